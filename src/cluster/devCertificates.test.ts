import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevCertificates, writeDevCertificates } from './devCertificates.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A mutual-TLS handshake on 127.0.0.1: resolves with the CN the server saw, or rejects. */
async function handshake(
  server: { cert: string; key: string },
  client: { cert: string; key: string },
  ca: string,
): Promise<string> {
  const tls = createServer({ ...server, ca, requestCert: true, rejectUnauthorized: true }, (s) => s.end());
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  const port = (tls.address() as { port: number }).port;
  // TLS 1.3: the client may finish before the server refuses its certificate; the server decides
  const seen = new Promise<string>((resolve, reject) => {
    tls.once('secureConnection', (s) => resolve(String(s.getPeerCertificate().subject.CN)));
    tls.once('tlsClientError', reject);
  });
  seen.catch(() => {});
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...client, ca }, () => {
        socket.end();
        resolve();
      });
      socket.once('error', reject);
    });
    return await seen;
  } finally {
    await new Promise((r) => tls.close(r));
  }
}

describe('development certificates', () => {
  it('a CA, backend and proxy certificates that complete a mutual TLS handshake', async () => {
    const certs = await createDevCertificates({ backends: ['b1', 'b2'], proxies: ['proxy-1'] });
    expect(Object.keys(certs.backends)).toEqual(['b1', 'b2']);
    const ca = new X509Certificate(certs.ca.cert);
    expect(ca.ca).toBe(true);
    const b1 = new X509Certificate(certs.backends.b1.cert);
    expect(b1.checkIssued(ca)).toBe(true);
    expect(b1.verify(ca.publicKey)).toBe(true);
    expect(b1.subject).toContain('CN=b1');
    expect(b1.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(b1.checkHost('localhost')).toBe('localhost');
    expect(b1.ca).toBe(false);
    const proxy = new X509Certificate(certs.proxies['proxy-1'].cert);
    expect(proxy.keyUsage).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
    expect(await handshake(certs.backends.b2, certs.proxies['proxy-1'], certs.ca.cert)).toBe('proxy-1');
  });

  it("another CA's certificates are refused", async () => {
    const mine = await createDevCertificates();
    const theirs = await createDevCertificates();
    await expect(
      handshake(mine.backends['backend-1'], theirs.proxies['proxy-1'], mine.ca.cert),
    ).rejects.toThrow();
  });

  it('writes every file with mode 0600, tightening files that existed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-certs-test-'));
    dirs.push(dir);
    const out = join(dir, 'pki');
    const certs = await createDevCertificates({ backends: ['b1'], proxies: ['p1'] });
    const written = await writeDevCertificates(out, certs);
    expect(readdirSync(out).sort()).toEqual(['b1.crt', 'b1.key', 'ca.crt', 'ca.key', 'p1.crt', 'p1.key']);
    expect(written).toHaveLength(6);
    for (const f of readdirSync(out)) expect(statSync(join(out, f)).mode & 0o777).toBe(0o600);
    writeFileSync(join(out, 'b1.key'), 'old', { mode: 0o644 });
    await writeDevCertificates(out, certs);
    expect(statSync(join(out, 'b1.key')).mode & 0o777).toBe(0o600);
  });

  it('refuses ids that are not plain file names', async () => {
    const certs = await createDevCertificates({ backends: ['../evil'], proxies: [] });
    await expect(writeDevCertificates(join(tmpdir(), 'never'), certs)).rejects.toThrow(RangeError);
  });
});
