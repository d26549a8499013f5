import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Follows relative imports from `browser.ts` and returns every file reached. */
function importGraph(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    seen.set(file, text);
    for (const match of text.matchAll(/from\s+'(\.[^']+)\.js'/g)) {
      queue.push(resolve(dirname(file), `${match[1]}.ts`));
    }
  }
  return seen;
}

describe('browser entry point', () => {
  it('reaches no node: module and no ws package', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const graph = importGraph(resolve(here, 'browser.ts'));
    expect(graph.size).toBeGreaterThan(5);
    for (const [file, text] of graph) {
      const bare = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^.][^']*)'/g)].map((m) => m[1]);
      expect(bare, file).toEqual([]);
    }
  });

  it('exports the browser-safe pieces', async () => {
    const browser = await import('./browser.js');
    expect(typeof browser.MemoryHub).toBe('function');
    expect(typeof browser.browserWebSocketClient).toBe('function');
    expect('udpServer' in browser).toBe(false);
    expect('websocketServer' in browser).toBe(false);
    const all = await import('./index.js');
    for (const name of ['MemoryHub', 'udpServer', 'udpClient', 'websocketServer', 'websocketClient']) {
      expect(typeof (all as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
