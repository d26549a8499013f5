import { spawnSync } from 'node:child_process';
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
  name: string;
  exports: Record<string, { types: string; import: string }>;
  bin: Record<string, string>;
  scripts: Record<string, string>;
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

  it('is named baton-net (the npm name `baton` belongs to another package), and the README installs that name', () => {
    expect(pkg.name).toBe('baton-net');
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    expect(readme).toContain('npm install baton-net');
    // every import line in the README names the package as users install it
    const imports = [...readme.matchAll(/from '([^'./][^']*)'/g)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    for (const name of imports) expect(name === 'baton-net' || name.startsWith('baton-net/')).toBe(true);
  });

  it('npm pack builds first (prepack) and ships dist: every export and the bin are in the tarball', () => {
    expect(pkg.scripts.prepack).toMatch(/npm run build|tsc -p tsconfig\.build\.json/);
    // the real command, from this checkout: prepack runs the build even for --dry-run
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--foreground-scripts=false'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.status, r.stderr).toBe(0);
    const json = r.stdout.slice(r.stdout.indexOf('['));
    const [packed] = JSON.parse(json) as { files: { path: string }[] }[];
    const files = new Set(packed.files.map((f) => f.path));
    for (const entry of Object.values(pkg.exports)) {
      expect(files).toContain(entry.import.replace(/^\.\//, ''));
      expect(files).toContain(entry.types.replace(/^\.\//, ''));
    }
    expect(files).toContain(pkg.bin.baton.replace(/^\.\//, ''));
    expect(
      [...files].filter(
        (f) => f.startsWith('src/') || f.startsWith('test/') || /\.test\.(js|d\.ts)$/.test(f),
      ),
    ).toEqual([]);
  }, 240_000);
});
