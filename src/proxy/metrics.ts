/**
 * Prometheus metrics of a {@link Proxy} (prom-client, one `Registry` per proxy: several proxies
 * in one process, or tests, never share series). Totals the proxy already counts are read at
 * scrape time; migrations are observed as they finish, RTT is sampled once a second per player.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { byKey, RTT_BUCKETS, type Sample, scrapedCounter, scrapedGauge } from '../server/metricsKit.js';
import type { MigrationResult } from './migration/MigrationOrchestrator.js';
import type { ProxySessionInfo, ProxyStats } from './Proxy.js';

/** What the metrics read of the proxy. */
export interface ProxyMetricsSource {
  readonly id: string;
  readonly stats: ProxyStats;
  sessions(): ProxySessionInfo[];
}

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** Also export the process's CPU, memory, event-loop lag and GC metrics (default true). */
  processMetrics?: boolean;
  /** How often each player's RTT is sampled into the histogram, ms (default 1000). */
  rttSampleMs?: number;
}

/** Seconds buckets for freeze windows (sub-ms on loopback to a stuck second). */
const FREEZE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const MIGRATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ProxyMetrics {
  /** The registry to expose (the proxy serves it on `GET /metrics` of its admin or metrics port). */
  readonly registry = new Registry();
  private readonly migrations: Counter<'outcome' | 'state'>;
  private readonly freeze: Histogram;
  private readonly duration: Histogram;
  private readonly rtt: Histogram;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly proxy: ProxyMetricsSource,
    options: ProxyMetricsOptions = {},
  ) {
    const r = this.registry;
    r.setDefaultLabels({ proxy: proxy.id });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: r, prefix: 'baton_proxy_' });
    const stats = () => this.proxy.stats;
    scrapedGauge(r, 'baton_proxy_sessions', 'Players held by the proxy, by state.', ['state'], () => {
      const by: Record<string, number> = { routing: 0, opening: 0, active: 0, migrating: 0 };
      for (const s of this.proxy.sessions()) {
        if (s.migration) by.migrating++;
        if (s.state !== 'closed') by[s.state]++;
      }
      return byKey('state', by);
    });
    scrapedGauge(r, 'baton_proxy_backend_players', 'Players relayed to each backend.', ['backend'], () => {
      const by: Record<string, number> = {};
      for (const s of this.proxy.sessions()) if (s.backendId) by[s.backendId] = (by[s.backendId] ?? 0) + 1;
      return byKey('backend', by);
    });
    scrapedCounter(r, 'baton_proxy_sessions_accepted_total', 'Player sessions accepted.', [], () => [
      [{}, stats().session.sessionsAccepted],
    ]);
    this.migrations = new Counter({
      name: 'baton_proxy_migrations_total',
      help: 'Seamless migrations finished, by outcome (ok, rolled_back, fallback) and the state a failed one stopped in.',
      labelNames: ['outcome', 'state'],
      registers: [r],
    });
    scrapedCounter(r, 'baton_proxy_migrations_started_total', 'Seamless migrations started.', [], () => [
      [{}, stats().migration.started],
    ]);
    scrapedCounter(
      r,
      'baton_proxy_referral_transfers_total',
      'Transfers done by referral because the pool cannot migrate seamlessly.',
      [],
      () => [[{}, stats().migration.referralTransfers]],
    );
    scrapedGauge(r, 'baton_proxy_migrations_in_flight', 'Seamless migrations under way.', [], () => [
      [{}, stats().migration.inFlight],
    ]);
    this.freeze = new Histogram({
      name: 'baton_proxy_migration_freeze_seconds',
      help: 'Client input held during a seamless migration (freeze to buffer released), seconds.',
      buckets: FREEZE_BUCKETS,
      registers: [r],
    });
    this.duration = new Histogram({
      name: 'baton_proxy_migration_duration_seconds',
      help: 'Whole seamless migration (prepare to the client acknowledging the cutover), seconds.',
      buckets: MIGRATION_BUCKETS,
      registers: [r],
    });
    scrapedCounter(
      r,
      'baton_proxy_dropped_total',
      'Inputs dropped and counted, by reason.',
      ['reason'],
      () => {
        const s = stats();
        return [...byKey('reason', s.dropped), ...byKey('reason', prefixed('session_', s.session.dropped))];
      },
    );
    scrapedCounter(
      r,
      'baton_proxy_bytes_total',
      'Bytes per hop (client: datagrams of player links; backend: relayed payloads) and direction.',
      ['hop', 'direction'],
      () => {
        const s = stats();
        return [
          [{ hop: 'client', direction: 'in' }, s.session.bytesIn],
          [{ hop: 'client', direction: 'out' }, s.session.bytesOut],
          [{ hop: 'backend', direction: 'out' }, s.relayed.bytesClientToBackend],
          [{ hop: 'backend', direction: 'in' }, s.relayed.bytesBackendToClient],
        ] satisfies Sample<'hop' | 'direction'>[];
      },
    );
    scrapedCounter(
      r,
      'baton_proxy_packets_total',
      'Packets per hop (client: datagrams; backend: relayed messages and world frames) and direction.',
      ['hop', 'direction'],
      () => {
        const s = stats();
        const rel = s.relayed;
        return [
          [{ hop: 'client', direction: 'in' }, s.session.datagramsIn],
          [{ hop: 'client', direction: 'out' }, s.session.datagramsOut],
          [
            { hop: 'backend', direction: 'out' },
            rel.clientToBackendMessages + rel.clientToBackendWorldFrames,
          ],
          [{ hop: 'backend', direction: 'in' }, rel.backendToClientMessages + rel.backendToClientWorldFrames],
        ] satisfies Sample<'hop' | 'direction'>[];
      },
    );
    scrapedCounter(
      r,
      'baton_proxy_backend_events_total',
      'Backend links connected, failed to connect, lost, refused, recovered; probes that failed.',
      ['event'],
      () => {
        // the list of backends unavailable now is a gauge's job, not a counter's
        const { unavailable: _, ...events } = stats().backends;
        return byKey('event', events);
      },
    );
    scrapedCounter(
      r,
      'baton_proxy_referrals_total',
      'Referral tokens sent, verified, rejected.',
      ['event'],
      () => byKey('event', stats().referrals),
    );
    this.rtt = new Histogram({
      name: 'baton_proxy_client_rtt_seconds',
      help: 'Round trip of players’ links to the proxy, sampled once per player per interval, seconds.',
      buckets: RTT_BUCKETS,
      registers: [r],
    });
    this.timer = setInterval(() => {
      for (const s of this.proxy.sessions()) if (s.state === 'active') this.rtt.observe(s.rttMs / 1000);
    }, options.rttSampleMs ?? 1000);
    this.timer.unref?.();
  }

  /** Record a finished migration (the proxy calls this for each). */
  observeMigration(result: MigrationResult): void {
    if (result.ok) {
      this.migrations.inc({ outcome: 'ok', state: 'Done' });
      this.freeze.observe(result.freezeMs / 1000);
      this.duration.observe(result.totalMs / 1000);
      return;
    }
    this.migrations.inc({ outcome: result.afterCutover ? 'fallback' : 'rolled_back', state: result.state });
  }

  /** The exposition text (`Content-Type`: {@link ProxyMetrics.contentType}). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stop sampling. */
  close(): void {
    clearInterval(this.timer);
  }
}

function prefixed(prefix: string, record: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(record)) out[prefix + k] = v;
  return out;
}

/** Serve `GET /metrics` of `metrics` on its own HTTP port (127.0.0.1 by default). */
export async function serveMetrics(
  metrics: ProxyMetrics,
  port: number,
  host: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://metrics').pathname !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (error: Error) => res.writeHead(500).end(error.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
