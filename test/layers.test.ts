import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// DESIGN §1: a folder per layer, and a layer imports only from layers below it (or itself).
// `server` and `client` share a level but must not import each other.
const LEVEL: Record<string, number> = {
  util: -1,
  serde: 0,
  transport: 1,
  link: 2,
  session: 3,
  world: 4,
  server: 5,
  client: 5,
  proxy: 6,
  cluster: 7,
  cli: 8,
};

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) yield path;
  }
}

function layerOf(file: string): string | undefined {
  const rel = relative(src, file);
  return rel.includes(sep) ? rel.split(sep)[0] : undefined; // src/index.ts is the package root
}

function violations(): string[] {
  const out: string[] = [];
  const re = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]/g;
  for (const file of sourceFiles(src)) {
    const from = layerOf(file);
    if (from === undefined || LEVEL[from] === undefined) continue;
    const text = readFileSync(file, 'utf8');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const to = layerOf(resolve(dirname(file), m[1]));
      if (to === undefined || to === from) continue;
      const ok = LEVEL[to] !== undefined && LEVEL[to] < LEVEL[from];
      if (!ok) out.push(`${relative(src, file)} (${from}) imports ${m[1]} (${to})`);
    }
  }
  return out;
}

describe('layering', () => {
  it('every layer imports only from layers below it', () => {
    expect(violations()).toEqual([]);
  });

  it('knows every folder under src', () => {
    const folders = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory());
    expect(folders.filter((f) => LEVEL[f] === undefined)).toEqual([]);
  });
});
