import { type CertificateAndKey, createDevCertificates } from '../cluster/devCertificates.js';

/** What the demos' mutual TLS needs: the CA, one backend (server) and one proxy (client) certificate. */
export interface DemoCertificates {
  readonly ca: CertificateAndKey;
  /** Shared by every demo backend; names localhost, 127.0.0.1, ::1. */
  readonly server: CertificateAndKey;
  /** CN `proxy-1`, the proxy id the demo backends allow. */
  readonly client: CertificateAndKey;
}

/**
 * Throwaway certificates for a demo, made in memory in pure JavaScript (no `openssl`, no
 * temporary files to clean up after Ctrl-C).
 */
export async function createDemoCertificates(): Promise<DemoCertificates> {
  const certs = await createDevCertificates({
    backends: ['demo-backend'],
    proxies: ['proxy-1'],
    validDays: 1,
  });
  return { ca: certs.ca, server: certs.backends['demo-backend'], client: certs.proxies['proxy-1'] };
}
