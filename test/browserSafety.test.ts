import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `src/client` must run in browsers: nothing it reaches, transitively, may import a Node
// built-in or a Node-only package. This walks the real import graph, so it fails the moment
// someone adds such an import anywhere below the client.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const forbidden = [/^node:/, /^ws$/, /^(fs|net|dgram|tls|crypto|os|path|events|child_process)$/];

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const specs: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  for (let m = re.exec(src); m; m = re.exec(src)) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs;
}

function walk(entry: string): { files: Set<string>; offenders: string[] } {
  const files = new Set<string>();
  const offenders: string[] = [];
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        const candidates = [target, `${target}.ts`, resolve(target, 'index.ts')];
        const found = candidates.find((c) => existsSync(c) && c.endsWith('.ts'));
        if (found) stack.push(found);
      } else if (forbidden.some((re) => re.test(spec))) {
        offenders.push(`${file.slice(root.length + 1)} imports ${spec}`);
      }
    }
  }
  return { files, offenders };
}

describe('browser safety', () => {
  it('src/client reaches no Node built-in or Node-only package', () => {
    const { files, offenders } = walk(resolve(root, 'src/client/index.ts'));
    expect(files.size).toBeGreaterThan(1);
    expect(offenders).toEqual([]);
  });

  it('the walker itself catches a Node import', () => {
    const { offenders } = walk(resolve(root, 'test/browserSafety.test.ts'));
    expect(offenders.some((o) => o.includes('node:fs'))).toBe(true);
  });
});
