import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBrowserBundles, CLIENT_BUNDLE } from '../src/cli/demoPage/bundles.js';
import { OfflineAuthenticator, Server, webrtcServer, websocketServer } from '../src/server/index.js';
import { Chat, protocol } from './helpers/protocol.js';

/**
 * The shipped client bundle in a real browser: the bundle `npm run build` writes to
 * `dist/browser/baton-client.js` (built here in memory by the same function, so the test never
 * reads a stale `dist/`) is served as an ES module; the test page is a `<script type="module">`
 * that imports the library from it alone, as a user's page would, and connects over the
 * browser's own WebSocket, then over its own RTCPeerConnection (WebRTC data channel, signalled
 * over a WebSocket, loopback ICE), to a Node server on 127.0.0.1. CI installs Chromium; a developer
 * machine without it skips, and says so.
 */
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI must provide Chromium at ${CHROMIUM}`);
if (!haveChromium) console.warn(`browser test skipped: no Chromium at ${CHROMIUM}`);

const here = dirname(fileURLToPath(import.meta.url));

/** Every import of the library (`src/index.js`, `src/client/…`) resolves to the shipped bundle. */
const libraryFromBundle: Plugin = {
  name: 'library-from-bundle',
  setup(b) {
    b.onResolve({ filter: /\/src\/(index|client\/index|client\/browser)\.js$/ }, () => ({
      path: `/${CLIENT_BUNDLE}`,
      external: true,
    }));
  },
};

describe.skipIf(!haveChromium)('client in Chromium', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('connects over the browser WebSocket and over WebRTC, exchanges ordered messages, closes with a reason', async () => {
    const shipped = (await buildBrowserBundles()).find((b) => b.name === CLIENT_BUNDLE)!;
    expect(shipped.text).not.toMatch(/from\s*["']node:/);
    const page = await build({
      entryPoints: [resolve(here, 'browser/entry.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      plugins: [libraryFromBundle],
    });
    const pageScript = page.outputFiles[0].text;
    // the page script carries none of the library: it all comes from the bundle
    expect(pageScript).toContain(`/${CLIENT_BUNDLE}`);
    expect(pageScript.length).toBeLessThan(5000);

    const server = new Server(protocol, { authenticator: new OfflineAuthenticator() });
    closers.push(() => server.close());
    server.onMessage(Chat, (user, value) => server.send(user, 'chat', Chat, value));
    const disconnects: string[] = [];
    server.on('disconnect', (_user, reason) => disconnects.push(reason));
    const address = await server.listen(websocketServer({ host: '127.0.0.1', port: 0 }));
    // the same server on WebRTC data channels (the browser's RTCPeerConnection, loopback ICE)
    const rtcAddress = await server.listen(webrtcServer({ host: '127.0.0.1', port: 0 }));

    const http: HttpServer = createServer((req, res) => {
      const js = (text: string) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(text);
      if (req.url === `/${CLIENT_BUNDLE}`) js(shipped.text);
      else if (req.url === '/entry.js') js(pageScript);
      else if (req.url === '/') {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script type="module" src="/entry.js"></script>');
      } else res.writeHead(404).end();
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
    const tab = await browser.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (e) => pageErrors.push(String(e)));
    await tab.goto(pageUrl);

    const count = 50;
    type Run = (u: string, c: number, t: string) => Promise<{ echoed: string[] }>;
    for (const [transport, url] of [
      ['websocket', address.url!],
      ['webrtc', rtcAddress.url!],
    ] as const) {
      disconnects.length = 0;
      const result = await tab.evaluate(
        ([u, n, t]) => (globalThis as unknown as { runBaton: Run }).runBaton(u, n, t),
        [url, count, transport] as const,
      );
      expect(pageErrors).toEqual([]);
      expect(result.echoed, transport).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
      const deadline = Date.now() + 5000;
      while (disconnects.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(disconnects, transport).toEqual(['browser done']);
      expect(server.users).toEqual([]);
    }
  });
});
