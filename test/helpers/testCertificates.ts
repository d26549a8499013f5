/**
 * The certificates the TLS and proxy tests use, made in memory at test time with the pure
 * JavaScript development PKI (`src/cluster/devCertificates.ts`): no `openssl`, no files, no key
 * ever committed. Test-only: shipped code never imports this file.
 */
import {
  type CertificateAndKey,
  createDevCa,
  createSelfSigned,
  type DevCa,
} from '../../src/cluster/devCertificates.js';

export type { CertificateAndKey } from '../../src/cluster/devCertificates.js';

/** The standard set used by stream and proxy tests. */
export interface TestCertificates {
  /** The CA both sides trust. */
  readonly ca: DevCa;
  /** CN 'backend-1', SAN DNS:localhost, IP:127.0.0.1, IP:::1; signed by `ca`. */
  readonly server: CertificateAndKey;
  /** CN 'proxy-1'; signed by `ca`. */
  readonly client: CertificateAndKey;
  /** CN 'proxy-expired'; signed by `ca`, expired yesterday. */
  readonly expiredClient: CertificateAndKey;
  /** CN 'proxy-rogue'; self-signed. */
  readonly selfSignedClient: CertificateAndKey;
  /** A CA nobody trusts. */
  readonly otherCa: DevCa;
  /** CN 'proxy-other'; signed by `otherCa`. */
  readonly otherCaClient: CertificateAndKey;
  /** CN 'backend-other', same names as `server`; signed by `otherCa`. */
  readonly otherCaServer: CertificateAndKey;
  /** Nothing to remove (everything is in memory); kept so fixtures read the same. */
  dispose(): void;
}

const DAY = 24 * 3600_000;
const ORG = 'baton test';

/** The standard certificate set (see {@link TestCertificates}). */
export async function createTestCertificates(): Promise<TestCertificates> {
  const ca = await createDevCa('baton-test-ca', 2, ORG);
  const otherCa = await createDevCa('baton-other-ca', 2, ORG);
  return {
    ca,
    server: await ca.issueServer('backend-1'),
    client: await ca.issueClient('proxy-1'),
    expiredClient: await ca.issueClient('proxy-expired', {
      notBefore: new Date(Date.now() - 3 * DAY),
      notAfter: new Date(Date.now() - DAY),
    }),
    selfSignedClient: await createSelfSigned('proxy-rogue', 'client', 1, ORG),
    otherCa,
    otherCaClient: await otherCa.issueClient('proxy-other'),
    otherCaServer: await otherCa.issueServer('backend-other'),
    dispose: () => {},
  };
}
