/**
 * The proxy's admin endpoint (opt-in, `admin: { port }`): a small `node:http` server bound to
 * 127.0.0.1 by default. JSON in and out.
 *
 * - `GET /sessions` — the players (id, uuid, username, backend, state, migration state)
 * - `GET /stats` — the proxy's counters, including `migration` (counts, failures by reason,
 *   freeze window p50/p99)
 * - `POST /sessions/:id/migrate?to=backendId` — migrate a player seamlessly; answers with the
 *   result once it finished (200 when ok, 409 when it failed, 404 for an unknown session)
 * - `POST /backends/:id/drain` — drain a backend (every player migrated elsewhere in its pool,
 *   then it leaves the pool); answers once done (200 when every player moved, else 409)
 * - `GET /metrics` — Prometheus exposition of the proxy's metrics
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DrainResult } from './drain.js';
import type { MigrationResult } from './migration/MigrationOrchestrator.js';
import type { ProxySessionInfo, ProxyStats } from './Proxy.js';

/** What the admin endpoint needs of the proxy. */
export interface AdminTarget {
  sessions(): ProxySessionInfo[];
  readonly stats: ProxyStats;
  migrate(sessionId: number, backendId: string): Promise<MigrationResult>;
  drain(backendId: string): Promise<DrainResult>;
  readonly metrics: { text(): Promise<string>; readonly contentType: string };
}

export class AdminServer {
  private server?: Server;
  port?: number;

  constructor(private readonly proxy: AdminTarget) {}

  listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => send(res, 500, { error: error.message }));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        this.port = (server.address() as AddressInfo).port;
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method === 'GET' && url.pathname === '/sessions') {
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
    if (req.method === 'GET' && url.pathname === '/stats') {
      send(res, 200, this.proxy.stats);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const text = await this.proxy.metrics.text();
      res.writeHead(200, { 'content-type': this.proxy.metrics.contentType });
      res.end(text);
      return;
    }
    const drain = /^\/backends\/([^/]+)\/drain$/.exec(url.pathname);
    if (req.method === 'POST' && drain) {
      req.resume(); // no body expected
      const result = await this.proxy.drain(decodeURIComponent(drain[1]));
      send(res, result.unknown ? 404 : result.failed.length === 0 ? 200 : 409, result);
      return;
    }
    const m = /^\/sessions\/(\d+)\/migrate$/.exec(url.pathname);
    if (req.method === 'POST' && m) {
      req.resume(); // no body expected
      const to = url.searchParams.get('to');
      if (!to) {
        send(res, 400, { error: 'missing ?to=backendId' });
        return;
      }
      const id = Number(m[1]);
      if (!this.proxy.sessions().some((s) => s.id === id)) {
        send(res, 404, { error: `no session ${id}` });
        return;
      }
      const result = await this.proxy.migrate(id, to);
      send(res, result.ok ? 200 : 409, result);
      return;
    }
    send(res, 404, { error: 'not found' });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
