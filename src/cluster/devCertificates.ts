/**
 * A development PKI in pure JavaScript (`@peculiar/x509` over node's WebCrypto): a CA, backend
 * (TLS server) and proxy (TLS client) certificates for the mutual TLS between proxies and
 * backends. No `openssl` binary, no files unless asked for. Keys are ECDSA P-256 (fast to make,
 * accepted by every TLS 1.3 stack). For development and tests only: a production deployment
 * uses certificates from its own PKI.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A PEM certificate with its PEM (PKCS#8) private key. */
export interface CertificateAndKey {
  readonly cert: string;
  readonly key: string;
}

/** Validity window of a certificate; by default from one hour ago to `validDays` ahead. */
export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

/** A certificate authority that signs more certificates. */
export interface DevCa extends CertificateAndKey {
  readonly name: string;
  /**
   * A TLS server certificate (serverAuth) with CN `commonName` and a subjectAltName for each of
   * `names` (DNS names or IP literals; default localhost, 127.0.0.1, ::1).
   */
  issueServer(commonName: string, names?: readonly string[], validity?: Validity): Promise<CertificateAndKey>;
  /** A TLS client certificate (clientAuth) with CN `commonName` (a proxy's id). */
  issueClient(commonName: string, validity?: Validity): Promise<CertificateAndKey>;
}

/** Options of {@link createDevCertificates}. */
export interface DevCertificateOptions {
  /** Backend ids: one server certificate each (CN = id). Default `['backend-1']`. */
  backends?: readonly string[];
  /** Proxy ids: one client certificate each (CN = id, what `allowedProxies` names). Default `['proxy-1']`. */
  proxies?: readonly string[];
  /** Names in every backend certificate's subjectAltName. Default localhost, 127.0.0.1, ::1. */
  hosts?: readonly string[];
  /** CA common name. Default 'baton-dev-ca'. */
  caName?: string;
  /** Days the certificates stay valid. Default 30. */
  validDays?: number;
}

/** A development CA and the certificates it signed, all PEM. */
export interface DevCertificates {
  readonly ca: CertificateAndKey;
  /** By backend id. */
  readonly backends: Readonly<Record<string, CertificateAndKey>>;
  /** By proxy id. */
  readonly proxies: Readonly<Record<string, CertificateAndKey>>;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

type X509 = typeof import('@peculiar/x509');
let x509Module: Promise<X509> | undefined;

/**
 * `@peculiar/x509` needs a Reflect metadata polyfill; loading both here, on first use, keeps
 * that global off every process that imports the cluster layer without making certificates.
 */
function loadX509(): Promise<X509> {
  x509Module ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  })();
  return x509Module;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(x509: X509, keys: CryptoKeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A random positive 128-bit serial (the top bit clear keeps the DER integer positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  return bytes.toString('hex');
}

/** An X.500 name from structured attributes, so a comma or `=` in an id stays part of the CN. */
function nameOf(commonName: string, organization: string): { [type: string]: string[] }[] {
  return [{ O: [organization] }, { CN: [commonName] }];
}

function window(validity: Validity | undefined, validDays: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: validity?.notBefore ?? new Date(Date.now() - HOUR),
    notAfter: validity?.notAfter ?? new Date(Date.now() + validDays * DAY),
  };
}

function isIpLiteral(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(':');
}

/**
 * A new CA, valid `validDays` (default 30). Every name it signs (and its own) carries the
 * organization `organization` (default 'baton dev').
 */
export async function createDevCa(
  name = 'baton-dev-ca',
  validDays = 30,
  organization = 'baton dev',
): Promise<DevCa> {
  const x509 = await loadX509();
  const caKeys = await newKeys();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: nameOf(name, organization),
    ...window(undefined, validDays),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const issue = async (
    commonName: string,
    usage: 'server' | 'client',
    names: readonly string[],
    validity: Validity | undefined,
  ): Promise<CertificateAndKey> => {
    const keys = await newKeys();
    const extensions: InstanceType<X509['Extension']>[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ];
    if (usage === 'server') {
      extensions.push(
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({ type: isIpLiteral(n) ? ('ip' as const) : ('dns' as const), value: n })),
          false,
        ),
      );
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: nameOf(commonName, organization),
      issuer: caCert.subject,
      ...window(validity, validDays),
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions,
    });
    return { cert: cert.toString('pem'), key: await keyPem(x509, keys) };
  };
  return {
    name,
    cert: caCert.toString('pem'),
    key: await keyPem(x509, caKeys),
    issueServer: (commonName, names = DEFAULT_HOSTS, validity) =>
      issue(commonName, 'server', names, validity),
    issueClient: (commonName, validity) => issue(commonName, 'client', [], validity),
  };
}

/**
 * A self-signed end-entity certificate (its own issuer, trusted by nobody): for tests that a
 * peer refuses it.
 */
export async function createSelfSigned(
  commonName: string,
  usage: 'client' | 'server',
  validDays = 1,
  organization = 'baton dev',
): Promise<CertificateAndKey> {
  const x509 = await loadX509();
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: nameOf(commonName, organization),
    ...window(undefined, validDays),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension(
        [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(x509, keys) };
}

/**
 * A development CA, a server certificate per backend and a client certificate per proxy, in
 * memory. Give a backend `{ cert, key }` of its id and `ca: ca.cert`; a proxy likewise.
 */
export async function createDevCertificates(options: DevCertificateOptions = {}): Promise<DevCertificates> {
  const validDays = options.validDays ?? 30;
  if (!(validDays > 0)) throw new RangeError(`validDays must be positive, got ${validDays}`);
  const ca = await createDevCa(options.caName ?? 'baton-dev-ca', validDays);
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  const backends: Record<string, CertificateAndKey> = {};
  const proxies: Record<string, CertificateAndKey> = {};
  for (const id of options.backends ?? ['backend-1']) backends[id] = await ca.issueServer(id, hosts);
  for (const id of options.proxies ?? ['proxy-1']) proxies[id] = await ca.issueClient(id);
  return { ca: { cert: ca.cert, key: ca.key }, backends, proxies };
}

/**
 * Write `certs` under `dir` (created if missing, mode 0700): `ca.crt`, `ca.key`,
 * `<id>.crt` / `<id>.key` for each backend and proxy. Every file is written with mode 0600
 * (private keys must not be readable by other users; the certificates follow suit).
 * Ids must be plain file names. Returns the paths written.
 */
export async function writeDevCertificates(dir: string, certs: DevCertificates): Promise<string[]> {
  const entries: [string, CertificateAndKey][] = [
    ['ca', certs.ca],
    ...Object.entries(certs.backends),
    ...Object.entries(certs.proxies),
  ];
  const stems = new Set<string>();
  for (const [stem] of entries) {
    if (!/^[\w.-]+$/.test(stem) || stem === '.' || stem === '..') {
      throw new RangeError(`certificate name '${stem}' is not a plain file name`);
    }
    if (stems.has(stem)) throw new RangeError(`certificate name '${stem}' is given twice`);
    stems.add(stem);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const [stem, pair] of entries) {
    for (const [ext, pem] of [
      ['crt', pair.cert],
      ['key', pair.key],
    ] as const) {
      const path = join(dir, `${stem}.${ext}`);
      await writeFile(path, pem, { mode: 0o600 });
      // the mode option applies only when the file is created: tighten a file that existed
      await chmod(path, 0o600);
      written.push(path);
    }
  }
  return written;
}
