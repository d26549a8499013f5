import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** Every module reachable from `entry` through static and dynamic imports, with its imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (graph.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    const specs = [
      ...source.matchAll(
        /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
      ),
    ]
      .map((m) => m[1] ?? m[2])
      // type-only imports vanish at runtime
      .filter((s) => s !== undefined);
    graph.set(file, specs);
    for (const s of specs)
      if (s.startsWith('.')) stack.push(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  }
  return graph;
}

describe('src/client is browser-safe', () => {
  it('imports nothing from node: or npm packages, transitively', () => {
    const graph = importGraph(resolve(here, 'index.ts'));
    const offenders: string[] = [];
    for (const [file, specs] of graph) {
      for (const s of specs) if (!s.startsWith('.')) offenders.push(`${file} → ${s}`);
    }
    expect(offenders).toEqual([]);
    expect(graph.size).toBeGreaterThan(10);
    expect([...graph.keys()].some((f) => f.endsWith('LinkConnection.ts'))).toBe(true);
  });
});
