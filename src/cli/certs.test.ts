import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runCerts } from './certs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, log: (l: string) => out.push(l), error: (l: string) => err.push(l) };
}

describe('baton certs', () => {
  it('writes a CA and one certificate per backend and proxy, mode 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-certs-cli-'));
    dirs.push(dir);
    const c = capture();
    const code = await runCerts(
      ['--out', dir, '--backends', 'b1,b2', '--proxies', 'proxy-1'],
      c.log,
      c.error,
    );
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([
      'b1.crt',
      'b1.key',
      'b2.crt',
      'b2.key',
      'ca.crt',
      'ca.key',
      'proxy-1.crt',
      'proxy-1.key',
    ]);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    const b2 = new X509Certificate(readFileSync(join(dir, 'b2.crt')));
    expect(b2.checkIssued(ca) && b2.verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(readFileSync(join(dir, 'proxy-1.crt'))).subject).toContain('CN=proxy-1');
  });

  it('usage errors name every problem, exit 2, write nothing', async () => {
    const c = capture();
    expect(await runCerts(['--days', 'x', '--backends', 'a/b'], c.log, c.error)).toBe(2);
    expect(c.err.join('\n')).toMatch(
      /--out <dir> is required; --days must be a positive number.*'a\/b' is not a usable id/s,
    );
    const d = capture();
    expect(await runCerts(['--bogus'], d.log, d.error)).toBe(2);
    expect(d.err.join('\n')).toMatch(/usage: baton certs/);
    const h = capture();
    expect(await runCerts(['-h'], h.log, h.error)).toBe(0);
    expect(h.out.join('\n')).toMatch(/usage: baton certs/);
  });
});

describe('shipped code', () => {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  function* shipped(dir: string): Generator<string> {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) yield* shipped(path);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) yield path;
    }
  }

  it('imports no test helper and runs no openssl binary', () => {
    const bad: string[] = [];
    for (const file of shipped(src)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s*['"](\.[^'"]+)['"]/g)) {
        if (relative(src, resolve(dirname(file), m[1])).startsWith('..'))
          bad.push(`${relative(src, file)}: ${m[1]}`);
      }
      if (/(execFile|spawn|exec)(Sync)?\(\s*['"]openssl/.test(text))
        bad.push(`${relative(src, file)}: runs openssl`);
      if (relative(src, file).startsWith('cli') && /from\s*['"][^'"]*\/testing\//.test(text)) {
        bad.push(`${relative(src, file)}: the CLI imports a testing module`);
      }
    }
    expect(bad).toEqual([]);
  });
});
