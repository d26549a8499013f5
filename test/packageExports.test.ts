import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BROWSER_BUNDLES } from '../src/cli/demoPage/bundles.js';

// Every subpath the package exports (and its `bin`) must be built from a source entry that
// exists: `dist/x/index.js` comes from `src/x/index.ts`. Catches an export added to
// package.json without its module, or a module moved without its export.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; import: string }>;
  bin: Record<string, string>;
};
// `dist/browser/*.js` are esbuild bundles (BROWSER_BUNDLES names their entries); the rest is tsc's
const sourceOf = (built: string) => {
  const bundle = /^\.\/dist\/browser\/(.+)$/.exec(built);
  if (bundle) return resolve(root, BROWSER_BUNDLES[bundle[1]] ?? `missing bundle ${bundle[1]}`);
  return resolve(root, built.replace(/^\.\/dist\//, 'src/').replace(/\.(d\.ts|js)$/, '.ts'));
};

describe('package exports', () => {
  it('export every layer users import: root, server, client (and its browser bundle), proxy, cluster', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual([
      '.',
      './client',
      './client/browser',
      './cluster',
      './proxy',
      './server',
    ]);
  });

  it.each(Object.entries(pkg.exports))('%s is built from an existing source entry', (_name, entry) => {
    expect(existsSync(sourceOf(entry.import))).toBe(true);
    expect(sourceOf(entry.types)).toBe(sourceOf(entry.import));
  });

  it('the baton command is built from src/cli/baton.ts, which starts with a shebang', () => {
    const source = sourceOf(pkg.bin.baton);
    expect(source.endsWith('src/cli/baton.ts')).toBe(true);
    expect(readFileSync(source, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });
});
