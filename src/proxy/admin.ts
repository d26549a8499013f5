/**
 * The proxy's admin endpoint (opt-in, `admin: { port }`): a small `node:http` server bound to
 * 127.0.0.1 by default. JSON in and out.
 *
 * - `GET /stats` — the proxy's counters, including `migration` (counts, failures by reason,
 *   freeze window p50/p99)
 * - `GET /sessions` — the players (id, uuid, username, address, backend, state, migration);
 *   needs the token
 * - `POST /sessions/:id/migrate?to=backendId` (or a JSON body `{ "to": "backendId" }`) — migrate
 *   a player seamlessly to a backend of its pool; needs the token and
 *   `Content-Type: application/json`; answers once it finished (200 ok, 409 failed, 404 unknown
 *   session, 400 target not in the player's pool)
 *
 * Why each check: a local browser is the attacker to keep out. A page on any site can make the
 * browser send a "simple" cross-site POST (text/plain, no preflight) to 127.0.0.1, and a DNS
 * rebinding page can even read answers under its own host name. So: every request must name
 * this server in `Host` (defeats rebinding), any `Origin` header must be this server's own
 * (defeats cross-site requests, even one that somehow carries the token), mutating requests
 * must be JSON (which a browser only sends cross-site after a CORS preflight this server never
 * grants), and listing or moving players needs `Authorization: Bearer <token>`. When no token
 * is configured one is generated and logged once, so a mutating request without it is always
 * refused.
 * - `POST /backends/:id/drain` — drain a backend (every player migrated elsewhere in its pool,
 *   then it leaves the pool); needs the token and `Content-Type: application/json`; answers
 *   once done (200 when every player moved, 409 otherwise, 404 for an unknown backend)
 * - `GET /metrics` — Prometheus exposition of the proxy's metrics (aggregates, like `/stats`:
 *   no token; the Host/Origin checks still apply)
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { DrainResult } from './drain.js';
import type { MigrationResult } from './migration/MigrationOrchestrator.js';
import type { ProxySessionInfo, ProxyStats } from './Proxy.js';
import type { Registry } from './registry.js';

/** Options of the proxy's admin endpoint (`ProxyOptions.admin`). */
export interface AdminOptions {
  /** Port; 0 picks one (`proxy.adminPort`). */
  port: number;
  /** Interface to bind. Default '127.0.0.1'; anything not loopback is logged as a warning. */
  host?: string;
  /**
   * The bearer token required to list or move players. Default: a random one, logged once
   * through the proxy's `log` when the endpoint starts.
   */
  token?: string;
  /**
   * Host names (without port) accepted in the `Host` header besides the bound address and the
   * loopback names (`localhost`, `127.0.0.1`, `[::1]`) — e.g. the name a reverse proxy uses.
   */
  allowedHosts?: readonly string[];
  /** Origins (`scheme://host:port`) accepted besides the endpoint's own. Default none. */
  allowedOrigins?: readonly string[];
}

/** What the admin endpoint needs of the proxy. */
export interface AdminTarget {
  sessions(): ProxySessionInfo[];
  readonly stats: ProxyStats;
  migrate(sessionId: number, backendId: string): Promise<MigrationResult>;
  drain(backendId: string): Promise<DrainResult>;
  readonly metrics: { text(): Promise<string>; readonly contentType: string };
}

/** What the admin endpoint is wired to besides the proxy. */
export interface AdminContext {
  /** Where pool membership is read (the target-in-pool check of `migrate`). */
  readonly registry: Pick<Registry, 'list'>;
  /** Where the generated token and warnings go (the proxy's `log`). */
  readonly log: (line: string) => void;
  /** Prefix of log lines, e.g. `proxy p1`. */
  readonly name?: string;
}

/** Largest JSON body a mutating request may carry. */
const MAX_BODY_BYTES = 4096;
/** Bounds on a client that opens a connection and dribbles its request (slowloris). */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 64;

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `host` names this machine's loopback interface only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Equality of two secrets in time independent of where they differ (and of their lengths). */
function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export class AdminServer {
  private server?: Server;
  private readonly token: string;
  private readonly host: string;
  private readonly hostNames: Set<string>;
  port?: number;

  constructor(
    private readonly proxy: AdminTarget,
    private readonly options: AdminOptions,
    private readonly context: AdminContext,
  ) {
    this.host = options.host ?? '127.0.0.1';
    this.token = options.token ?? randomBytes(24).toString('base64url');
    if (options.token !== undefined && options.token.length < 16)
      throw new Error('admin.token: use at least 16 characters');
    const bound = this.host.replace(/^\[|\]$/g, '').toLowerCase();
    this.hostNames = new Set(
      [...LOOPBACK_NAMES, bound, ...(options.allowedHosts ?? [])].map((h) => h.toLowerCase()),
    );
  }

  listen(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (error instanceof HttpError) send(res, error.status, { error: error.message });
        else send(res, 500, { error: error.message });
      });
    });
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.maxConnections = MAX_CONNECTIONS;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.host, () => {
        const address = server.address();
        this.port = typeof address === 'object' && address ? address.port : this.options.port;
        this.announce();
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private announce(): void {
    const name = this.context.name ? `${this.context.name}: ` : '';
    const url = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
    if (!isLoopbackHost(this.host))
      this.context.log(
        `${name}WARNING: admin endpoint bound to ${this.host}, not loopback: anyone who can reach ${url} and learns the token can list and move players`,
      );
    if (this.options.token === undefined)
      this.context.log(`${name}admin endpoint on ${url}, token (generated, shown once): ${this.token}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.checkHostAndOrigin(req);
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/stats') {
      allowMethod(req, 'GET');
      req.resume();
      send(res, 200, this.proxy.stats);
      return;
    }
    if (url.pathname === '/sessions') {
      allowMethod(req, 'GET');
      this.checkToken(req);
      req.resume();
      send(
        res,
        200,
        this.proxy.sessions().map((s) => ({
          id: s.id,
          uuid: s.uuid,
          username: s.username,
          address: s.address,
          state: s.state,
          backendId: s.backendId,
          pool: s.pool,
          rttMs: Math.round(s.rttMs),
          migration: s.migration ?? null,
        })),
      );
      return;
    }
    if (url.pathname === '/metrics') {
      allowMethod(req, 'GET');
      req.resume();
      const text = await this.proxy.metrics.text();
      res.writeHead(200, { 'content-type': this.proxy.metrics.contentType });
      res.end(text);
      return;
    }
    const drain = /^\/backends\/([^/]+)\/drain$/.exec(url.pathname);
    if (drain) {
      allowMethod(req, 'POST');
      this.checkToken(req);
      await readJsonBody(req); // JSON-only like every mutating request; no field is read
      const result = await this.proxy.drain(decodeURIComponent(drain[1]));
      send(res, result.unknown ? 404 : result.failed.length === 0 ? 200 : 409, result);
      return;
    }
    const m = /^\/sessions\/(\d+)\/migrate$/.exec(url.pathname);
    if (m) {
      allowMethod(req, 'POST');
      this.checkToken(req);
      const body = await readJsonBody(req);
      const to = url.searchParams.get('to') ?? (typeof body?.to === 'string' ? body.to : undefined);
      if (!to) throw new HttpError(400, 'missing target: ?to=backendId or {"to": "backendId"}');
      const id = Number(m[1]);
      const session = this.proxy.sessions().find((s) => s.id === id);
      if (!session) throw new HttpError(404, `no session ${id}`);
      const pool = await this.context.registry.list(session.pool);
      if (!pool.some((r) => r.id === to))
        throw new HttpError(400, `backend '${to}' is not in pool '${session.pool}' of session ${id}`);
      const result = await this.proxy.migrate(id, to);
      send(res, result.ok ? 200 : 409, result);
      return;
    }
    req.resume();
    throw new HttpError(404, 'not found');
  }

  /** `Host` must name this server (DNS rebinding); any `Origin` must be this server's own (CSRF). */
  private checkHostAndOrigin(req: IncomingMessage): void {
    const host = req.headers.host;
    const hostName = host === undefined ? undefined : hostOf(host);
    if (hostName === undefined || !this.hostNames.has(hostName))
      throw new HttpError(403, `Host '${host ?? ''}' is not this admin endpoint`);
    const origin = req.headers.origin;
    if (origin === undefined) return; // not from a browser page (curl, scripts, monitoring)
    if (this.options.allowedOrigins?.includes(origin)) return;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    const own =
      parsed !== undefined &&
      parsed.protocol === 'http:' &&
      this.hostNames.has(hostOf(parsed.host) ?? '') &&
      Number(parsed.port || 80) === this.port;
    if (!own) throw new HttpError(403, `Origin '${origin}' is not allowed`);
  }

  private checkToken(req: IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || !sameSecret(m[1], this.token)) {
      throw new HttpError(401, 'missing or wrong token (Authorization: Bearer <admin token>)');
    }
  }
}

/** The lower-cased host name of a `Host` header value (port and IPv6 brackets removed). */
function hostOf(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? undefined : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

function allowMethod(req: IncomingMessage, method: string): void {
  if (req.method !== method) {
    req.resume();
    throw new HttpError(405, `use ${method}`);
  }
}

/** A mutating request's body: must be declared JSON (no CORS-free "simple" request), small, and parse. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new HttpError(415, 'Content-Type: application/json required');
  }
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      // keep draining (the answer goes out on this connection) but stop keeping bytes
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, `body over ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    req.once('end', () => resolve());
    req.once('error', reject);
  });
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, 'body must be a JSON object');
  return value as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  res.writeHead(status, headers);
  res.end(text);
}
