import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { OfflineAuthenticator, Server, websocketServer } from '../src/server/index.js';
import { Chat, protocol } from './helpers/protocol.js';

/**
 * The client library in a real browser: esbuild bundles `src/client` for the browser (a
 * bundle fails if anything below it needs Node), Chromium loads it, and it connects over the
 * browser's own WebSocket to a Node server on 127.0.0.1. CI installs Chromium; a developer
 * machine without it skips, and says so.
 */
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI must provide Chromium at ${CHROMIUM}`);
if (!haveChromium) console.warn(`browser test skipped: no Chromium at ${CHROMIUM}`);

const here = dirname(fileURLToPath(import.meta.url));

describe.skipIf(!haveChromium)('client in Chromium', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('connects over the browser WebSocket, exchanges ordered messages, closes with a reason', async () => {
    const bundle = await build({
      entryPoints: [resolve(here, 'browser/entry.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0].text;

    const server = new Server(protocol, { authenticator: new OfflineAuthenticator() });
    closers.push(() => server.close());
    server.onMessage(Chat, (user, value) => server.send(user, 'chat', Chat, value));
    const disconnects: string[] = [];
    server.on('disconnect', (_user, reason) => disconnects.push(reason));
    const address = await server.listen(websocketServer({ host: '127.0.0.1', port: 0 }));

    const http: HttpServer = createServer((req, res) => {
      if (req.url === '/baton.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      } else {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script src="/baton.js"></script>');
      }
    });
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    closers.push(() => new Promise((ok) => http.close(ok)));
    const pageUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    closers.push(() => browser.close());
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(pageUrl);

    const count = 50;
    const result = await page.evaluate(
      ([url, n]) =>
        (globalThis as unknown as { runBaton(u: string, c: number): Promise<{ echoed: string[] }> }).runBaton(
          url,
          n,
        ),
      [address.url!, count] as const,
    );
    expect(pageErrors).toEqual([]);
    expect(result.echoed).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    const deadline = Date.now() + 5000;
    while (disconnects.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(disconnects).toEqual(['browser done']);
  });
});
