import { parseArgs } from 'node:util';
import { createDevCertificates, writeDevCertificates } from '../cluster/devCertificates.js';

export const CERTS_USAGE = `usage: baton certs --out <dir> [--backends b1,b2] [--proxies proxy-1] [--hosts localhost,127.0.0.1,::1] [--days 30]
  Writes a development CA (ca.crt, ca.key) and a certificate and key per backend (TLS server,
  CN = id, subjectAltName = --hosts) and per proxy (TLS client, CN = id), every file mode 0600.
  For development only; made in pure JavaScript (no openssl).`;

function list(value: string | undefined, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** `baton certs`: write a development PKI for proxies and backends. Returns the exit code. */
export async function runCerts(
  argv: string[],
  log: (line: string) => void = (line) => console.log(line),
  error: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  let values: {
    out?: string;
    backends?: string;
    proxies?: string;
    hosts?: string;
    days?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        backends: { type: 'string' },
        proxies: { type: 'string' },
        hosts: { type: 'string' },
        days: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    error(`baton certs: ${(e as Error).message}\n${CERTS_USAGE}`);
    return 2;
  }
  if (values.help) {
    log(CERTS_USAGE);
    return 0;
  }
  const days = values.days === undefined ? 30 : Number(values.days);
  const backends = list(values.backends, ['backend-1']);
  const proxies = list(values.proxies, ['proxy-1']);
  const problems: string[] = [];
  if (!values.out) problems.push('--out <dir> is required');
  if (!(Number.isFinite(days) && days > 0))
    problems.push(`--days must be a positive number, got '${values.days}'`);
  for (const id of [...backends, ...proxies]) {
    if (!/^[\w.-]+$/.test(id) || id === 'ca')
      problems.push(`'${id}' is not a usable id (letters, digits, _ . -; not 'ca')`);
  }
  if (new Set([...backends, ...proxies]).size !== backends.length + proxies.length) {
    problems.push('backend and proxy ids must all differ');
  }
  if (problems.length > 0 || !values.out) {
    error(`baton certs: ${problems.join('; ')}\n${CERTS_USAGE}`);
    return 2;
  }
  const certs = await createDevCertificates({
    backends,
    proxies,
    hosts: values.hosts === undefined ? undefined : list(values.hosts, []),
    validDays: days,
  });
  try {
    const written = await writeDevCertificates(values.out, certs);
    log(
      `wrote ${written.length} files to ${values.out} (mode 0600): ${written.map((p) => p.split(/[\\/]/).pop()).join(' ')}`,
    );
  } catch (e) {
    error(`baton certs: cannot write to ${values.out}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}
