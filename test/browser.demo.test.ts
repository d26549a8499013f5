import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runMigrationDemo } from '../src/cli/migrationDemo.js';

/**
 * The demo page in Chromium: `npm run demo`'s migration demo with its page; the tab is a player
 * connected through the proxy's WebSocket listener, the test holds the arrow keys to walk it
 * across the border between the two backends' regions, and each crossing migrates it. The
 * assertions read the page's own counters. Then the test closes the tab's WebSocket, as a lost
 * network would, and the page's session resumes on a new one (the proxy keeps the backend
 * session meanwhile), after which it crosses a border once more. A screenshot goes to
 * `test-results/`.
 */
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI must provide Chromium at ${CHROMIUM}`);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const testOutput = resolve(root, 'test-results');

interface PageState {
  connected: boolean;
  backend: string;
  migrations: number;
  disconnects: number;
  lastDisconnect: string;
  resumes: number;
  resuming: boolean;
  sent: number;
  processed: number;
  lost: number;
  x: number;
  snapshots: number;
}

const stateOf = (tab: Page) =>
  tab.evaluate(() => ({ ...(globalThis as unknown as { batonDemo: PageState }).batonDemo }));

/** Polls the page until `ok` holds (bounded); returns the last state either way. */
async function until(tab: Page, ok: (s: PageState) => boolean, ms: number): Promise<PageState> {
  const deadline = Date.now() + ms;
  let s = await stateOf(tab);
  while (!ok(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    s = await stateOf(tab);
  }
  return s;
}

describe.skipIf(!haveChromium)('demo page in Chromium', () => {
  it('the visitor walks across region borders, is migrated each time, resumes after a drop, loses no input', async () => {
    const lines: string[] = [];
    // the demo runs until the test is done with it (the duration is only a bound)
    const stop = new AbortController();
    const demo = runMigrationDemo({
      signal: stop.signal,
      durationSeconds: 90,
      transport: 'udp',
      bots: 3,
      page: { port: 0 },
      log: (line) => lines.push(line),
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      let url: string | undefined;
      for (let i = 0; i < 600 && !url; i++) {
        url = lines.map((l) => /demo page: (http\S+)/.exec(l)?.[1]).find((u) => u !== undefined);
        if (!url) await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, lines.join('\n')).toBeDefined();
      const tab = await browser.newPage({ viewport: { width: 1360, height: 560 } });
      const pageErrors: string[] = [];
      tab.on('pageerror', (e) => pageErrors.push(String(e)));
      await tab.goto(url!);
      let s = await until(tab, (q) => q.connected && q.backend !== '' && q.snapshots > 3, 15_000);
      expect(s.connected, s.lastDisconnect).toBe(true);

      // backend-1 owns the left half, backend-2 the right: cross the middle four times
      const crossings = 4;
      for (let i = 0; i < crossings; i++) {
        const goRight = s.x < 0;
        const key = goRight ? 'ArrowRight' : 'ArrowLeft';
        const before = s.migrations;
        await tab.keyboard.down(key);
        s = await until(tab, (q) => (goRight ? q.x > 30 : q.x < -30), 15_000);
        await tab.keyboard.up(key);
        expect(goRight ? s.x > 30 : s.x < -30, `crossing ${i}: stuck at x ${s.x}`).toBe(true);
        const want = goRight ? 'backend-2' : 'backend-1';
        s = await until(tab, (q) => q.backend === want && q.migrations > before, 10_000);
        expect(s.backend, `crossing ${i}`).toBe(want);
        if (i === crossings - 1) {
          mkdirSync(testOutput, { recursive: true });
          await tab.screenshot({ path: resolve(testOutput, 'demo-page.png') });
        }
      }
      // the tab's connection drops while it walks: the session resumes, the walk goes on
      const key = s.x < 0 ? 'ArrowRight' : 'ArrowLeft';
      await tab.keyboard.down(key);
      await new Promise((r) => setTimeout(r, 300));
      await tab.evaluate(() =>
        (globalThis as unknown as { batonDropConnection(): void }).batonDropConnection(),
      );
      s = await until(tab, (q) => q.resumes === 1 && !q.resuming, 15_000);
      expect(s.resumes, s.lastDisconnect).toBe(1);
      const before = s.migrations;
      s = await until(tab, (q) => q.migrations > before, 15_000);
      await tab.keyboard.up(key);
      expect(s.migrations).toBe(before + 1);

      // every input the tab sent is processed once: the page's own counters, settled
      s = await until(tab, (q) => q.processed === q.sent, 10_000);
      await new Promise((r) => setTimeout(r, 2200));
      s = await stateOf(tab);
      expect(s.migrations).toBeGreaterThanOrEqual(3);
      expect(s.sent).toBeGreaterThan(0);
      expect(s.processed).toBe(s.sent);
      expect(s.lost).toBe(0);
      expect(s.disconnects, s.lastDisconnect).toBe(0);
      expect(await tab.textContent('#c-you-lost')).toBe('0');
      expect(await tab.textContent('#c-you-disconnects')).toBe('0');
      expect(Number(await tab.textContent('#c-you-migrations'))).toBe(s.migrations);
      expect(await tab.textContent('#c-you-resumes')).toBe('1');
      expect(await tab.textContent('#c-you-state')).toBe('connected');
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
      stop.abort();
    }
    // the demo itself ends well: the bots lost nothing either
    expect(await demo, lines.join('\n')).toBe(true);
  }, 120_000);
});
