import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// A clone has only this repository: docs and shipped code must not point outside it, and the
// README's and the architecture page's links must land on files that exist.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function* files(dir: string, ext: RegExp): Generator<string> {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path, ext);
    else if (ext.test(name)) yield path;
  }
}

describe('documentation', () => {
  it('nothing users get mentions ../shared', () => {
    const offenders: string[] = [];
    const all = [
      resolve(root, 'README.md'),
      ...files(resolve(root, 'docs'), /\.md$/),
      ...files(resolve(root, 'src'), /\.ts$/),
      ...files(resolve(root, 'examples'), /\.(ts|js|json|md)$/),
    ];
    for (const file of all) {
      if (/\.\.\/shared|shared\/DESIGN/.test(readFileSync(file, 'utf8')))
        offenders.push(relative(root, file));
    }
    expect(offenders).toEqual([]);
  });

  it.each(['README.md', 'docs/ARCHITECTURE.md'])('every relative link of %s exists', (page) => {
    const text = readFileSync(resolve(root, page), 'utf8');
    const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((m) => m[1])
      .filter((l) => !/^[a-z]+:/.test(l));
    expect(links.length).toBeGreaterThan(0);
    const missing = links.filter((l) => !existsSync(resolve(root, dirname(page), l)));
    expect(missing).toEqual([]);
  });

  it('the README points at the architecture page', () => {
    expect(readFileSync(resolve(root, 'README.md'), 'utf8')).toContain('(docs/ARCHITECTURE.md)');
  });
});
