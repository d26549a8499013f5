/**
 * Test PKI made at test time with the `openssl` CLI: CAs, server and client certificates
 * (valid, expired, self-signed, from another CA) in a temporary directory that `dispose()`
 * removes. No key or certificate is ever committed. Keys are P-256 (fast to generate, and
 * accepted by every TLS 1.3 stack).
 *
 * `openssl ca` is used for signing because it is the one command that sets arbitrary validity
 * dates on OpenSSL 3.0 and LibreSSL alike (needed for an already-expired certificate).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate with its PEM private key. */
export interface CertificateAndKey {
  readonly cert: string;
  readonly key: string;
}

/** A certificate authority that can sign more certificates. */
export interface TestCa extends CertificateAndKey {
  readonly name: string;
  /** Sign a server certificate (serverAuth) for `names` (DNS names or IP literals). */
  issueServer(commonName: string, names?: string[], validity?: Validity): CertificateAndKey;
  /** Sign a client certificate (clientAuth). */
  issueClient(commonName: string, validity?: Validity): CertificateAndKey;
}

/** Validity window; by default from one hour ago to one day ahead. */
export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

/** A temporary PKI; call `dispose()` (e.g. in `afterAll`) to delete every file. */
export interface TestPki {
  readonly dir: string;
  createCa(name: string): TestCa;
  /** A self-signed certificate (its own issuer, trusted by nobody). */
  selfSigned(commonName: string, usage: 'client' | 'server'): CertificateAndKey;
  dispose(): void;
}

/** The standard set used by stream (and later proxy) tests. */
export interface TestCertificates {
  readonly pki: TestPki;
  /** The CA both sides trust. */
  readonly ca: TestCa;
  /** CN 'backend-1', SAN DNS:localhost, IP:127.0.0.1, IP:::1; signed by `ca`. */
  readonly server: CertificateAndKey;
  /** CN 'proxy-1'; signed by `ca`. */
  readonly client: CertificateAndKey;
  /** CN 'proxy-expired'; signed by `ca`, expired yesterday. */
  readonly expiredClient: CertificateAndKey;
  /** CN 'proxy-rogue'; self-signed. */
  readonly selfSignedClient: CertificateAndKey;
  /** A CA nobody trusts, and certificates it signed. */
  readonly otherCa: TestCa;
  /** CN 'proxy-other'; signed by `otherCa`. */
  readonly otherCaClient: CertificateAndKey;
  /** CN 'backend-other', same names as `server`; signed by `otherCa`. */
  readonly otherCaServer: CertificateAndKey;
  dispose(): void;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** `YYYYMMDDHHMMSSZ`, the form `openssl ca -startdate/-enddate` takes. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function configFor(dir: string): string {
  return [
    '[ req ]',
    'distinguished_name = dn',
    'prompt = no',
    '[ dn ]',
    'CN = placeholder',
    '[ ca ]',
    'default_ca = ca_default',
    '[ ca_default ]',
    `dir = ${dir}`,
    'database = $dir/index.txt',
    'new_certs_dir = $dir/issued',
    'serial = $dir/serial',
    'default_md = sha256',
    'policy = policy_any',
    'unique_subject = no',
    'copy_extensions = none',
    'email_in_dn = no',
    '[ policy_any ]',
    'commonName = supplied',
    'organizationName = optional',
    '[ v3_ca ]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[ v3_client ]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = clientAuth',
    '[ v3_self_client ]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyCertSign',
    'extendedKeyUsage = clientAuth',
    '',
  ].join('\n');
}

/** Create a temporary PKI. Throws if the `openssl` CLI is missing. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'baton-pki-'));
  let counter = 0;
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, configFor(dir));
  mkdirSync(join(dir, 'issued'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');

  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const file = (stem: string) => join(dir, `${stem}-${++counter}`);
  const newKey = (stem: string): string => {
    const path = `${stem}.key`;
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path);
    return path;
  };
  const subject = (cn: string) => `/O=baton test/CN=${cn}`;

  const sign = (
    caCert: string,
    caKey: string,
    commonName: string,
    extension: string,
    validity: Validity = {},
  ): CertificateAndKey => {
    const stem = file(commonName.replace(/[^\w.-]/g, '_'));
    const key = newKey(stem);
    openssl(
      'req',
      '-new',
      '-config',
      config,
      '-key',
      key,
      '-subj',
      subject(commonName),
      '-out',
      `${stem}.csr`,
    );
    const notBefore = validity.notBefore ?? new Date(Date.now() - HOUR);
    const notAfter = validity.notAfter ?? new Date(Date.now() + DAY);
    openssl(
      'ca',
      '-batch',
      '-notext',
      '-config',
      config,
      '-cert',
      caCert,
      '-keyfile',
      caKey,
      '-in',
      `${stem}.csr`,
      '-out',
      `${stem}.pem`,
      '-startdate',
      asn1Time(notBefore),
      '-enddate',
      asn1Time(notAfter),
      '-extfile',
      extension,
    );
    return { cert: readFileSync(`${stem}.pem`, 'utf8'), key: readFileSync(key, 'utf8') };
  };

  const extensionFile = (lines: string[]): string => {
    const path = `${file('ext')}.cnf`;
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };

  const createCa = (name: string): TestCa => {
    const stem = file(name.replace(/[^\w.-]/g, '_'));
    const key = newKey(stem);
    openssl(
      'req',
      '-x509',
      '-new',
      '-config',
      config,
      '-extensions',
      'v3_ca',
      '-key',
      key,
      '-subj',
      subject(name),
      '-days',
      '2',
      '-out',
      `${stem}.pem`,
    );
    const caCert = `${stem}.pem`;
    return {
      name,
      cert: readFileSync(caCert, 'utf8'),
      key: readFileSync(key, 'utf8'),
      issueServer(commonName, names = ['localhost', '127.0.0.1', '::1'], validity) {
        const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(', ');
        const ext = extensionFile([
          'basicConstraints = critical, CA:FALSE',
          'keyUsage = critical, digitalSignature',
          'extendedKeyUsage = serverAuth',
          `subjectAltName = ${san}`,
        ]);
        return sign(caCert, key, commonName, ext, validity);
      },
      issueClient(commonName, validity) {
        const ext = extensionFile([
          'basicConstraints = critical, CA:FALSE',
          'keyUsage = critical, digitalSignature',
          'extendedKeyUsage = clientAuth',
        ]);
        return sign(caCert, key, commonName, ext, validity);
      },
    };
  };

  const selfSigned = (commonName: string, usage: 'client' | 'server'): CertificateAndKey => {
    const stem = file(commonName.replace(/[^\w.-]/g, '_'));
    const key = newKey(stem);
    const extensions = usage === 'client' ? 'v3_self_client' : 'v3_ca';
    openssl(
      'req',
      '-x509',
      '-new',
      '-config',
      config,
      '-extensions',
      extensions,
      '-key',
      key,
      '-subj',
      subject(commonName),
      '-days',
      '1',
      '-out',
      `${stem}.pem`,
    );
    return { cert: readFileSync(`${stem}.pem`, 'utf8'), key: readFileSync(key, 'utf8') };
  };

  return {
    dir,
    createCa,
    selfSigned,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The standard certificate set (see {@link TestCertificates}). */
export function createTestCertificates(): TestCertificates {
  const pki = createTestPki();
  try {
    const ca = pki.createCa('baton-test-ca');
    const otherCa = pki.createCa('baton-other-ca');
    return {
      pki,
      ca,
      server: ca.issueServer('backend-1'),
      client: ca.issueClient('proxy-1'),
      expiredClient: ca.issueClient('proxy-expired', {
        notBefore: new Date(Date.now() - 3 * DAY),
        notAfter: new Date(Date.now() - DAY),
      }),
      selfSignedClient: pki.selfSigned('proxy-rogue', 'client'),
      otherCa,
      otherCaClient: otherCa.issueClient('proxy-other'),
      otherCaServer: otherCa.issueServer('backend-other'),
      dispose: () => pki.dispose(),
    };
  } catch (error) {
    pki.dispose();
    throw error;
  }
}
