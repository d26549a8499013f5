/**
 * Prometheus metrics of a backend or direct {@link Server} (`server.metrics`): its own
 * prom-client `Registry`, which the game exposes where it likes (`await registry.metrics()`).
 * Totals the server already counts are read at scrape time; tick durations are observed each
 * step and each user's RTT is sampled once a second.
 */
import { Histogram, Registry } from 'prom-client';
import { byKey, RTT_BUCKETS, type Sample, scrapedCounter, scrapedGauge } from './metricsKit.js';
import type { ProxiedStats } from './ProxiedSessions.js';
import type { ServerStats } from './Server.js';
import type { User } from './User.js';

/** What the metrics read of the server. */
export interface ServerMetricsSource {
  readonly stats: ServerStats;
  readonly proxiedStats: ProxiedStats | undefined;
  readonly users: User[];
  readonly ticketStats: { issued: number; accepted: number; rejected: Record<string, number> } | undefined;
}

const TICK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly tick: Histogram;
  private readonly rtt: Histogram;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly server: ServerMetricsSource,
    labels: Record<string, string> = {},
  ) {
    const r = this.registry;
    r.setDefaultLabels(labels);
    const stats = () => this.server.stats;
    scrapedGauge(
      r,
      'baton_server_users',
      'Connected users (leaving: handed off, in the overlap window).',
      ['state'],
      () => {
        let leaving = 0;
        const users = this.server.users;
        for (const u of users) if (u.leaving) leaving++;
        return [
          [{ state: 'playing' }, users.length - leaving],
          [{ state: 'leaving' }, leaving],
        ] satisfies Sample<'state'>[];
      },
    );
    scrapedGauge(r, 'baton_server_entities', 'Live entities in the server world.', [], () => [
      [{}, stats().world.entities],
    ]);
    scrapedCounter(r, 'baton_server_sessions_accepted_total', 'Direct sessions accepted.', [], () => [
      [{}, stats().sessionsAccepted],
    ]);
    scrapedCounter(
      r,
      'baton_server_messages_total',
      'Application messages, by direction.',
      ['direction'],
      () => {
        const s = stats();
        return [
          [{ direction: 'in' }, s.messagesIn],
          [{ direction: 'out' }, s.messagesOut],
        ] satisfies Sample<'direction'>[];
      },
    );
    scrapedCounter(
      r,
      'baton_server_bytes_total',
      'Bytes by hop (direct: datagrams of player links; proxy: mux frames from and to proxies) and direction.',
      ['hop', 'direction'],
      () => {
        const s = stats();
        const out: Sample<'hop' | 'direction'>[] = [
          [{ hop: 'direct', direction: 'in' }, s.bytesIn],
          [{ hop: 'direct', direction: 'out' }, s.bytesOut],
        ];
        const p = proxiedNumbers(this.server.proxiedStats);
        if (p.bytesIn !== undefined) out.push([{ hop: 'proxy', direction: 'in' }, p.bytesIn]);
        if (p.bytesOut !== undefined) out.push([{ hop: 'proxy', direction: 'out' }, p.bytesOut]);
        return out;
      },
    );
    scrapedCounter(
      r,
      'baton_server_packets_total',
      'Packets by hop (direct: datagrams; proxy: mux frames) and direction.',
      ['hop', 'direction'],
      () => {
        const s = stats();
        const out: Sample<'hop' | 'direction'>[] = [
          [{ hop: 'direct', direction: 'in' }, s.datagramsIn],
          [{ hop: 'direct', direction: 'out' }, s.datagramsOut],
        ];
        const p = proxiedNumbers(this.server.proxiedStats);
        if (p.framesIn !== undefined) out.push([{ hop: 'proxy', direction: 'in' }, p.framesIn]);
        if (p.framesOut !== undefined) out.push([{ hop: 'proxy', direction: 'out' }, p.framesOut]);
        return out;
      },
    );
    scrapedCounter(r, 'baton_server_world_frames_total', 'World frames, by direction.', ['direction'], () => {
      const w = stats().world;
      return [
        [{ direction: 'in' }, w.framesIn],
        [{ direction: 'out' }, w.framesOut],
      ] satisfies Sample<'direction'>[];
    });
    scrapedCounter(
      r,
      'baton_server_dropped_total',
      'Inputs dropped and counted, by reason.',
      ['reason'],
      () => {
        const s = stats();
        const out = [
          ...byKey('reason', s.dropped),
          [{ reason: 'malformedMessage' }, s.malformedMessages] as const,
          [{ reason: 'worldFrame' }, s.world.framesDropped] as const,
          [{ reason: 'refusedWrite' }, s.world.refusedWrites] as const,
        ] as Sample<'reason'>[];
        const p = this.server.proxiedStats;
        if (p) for (const [k, v] of Object.entries(p.dropped)) out.push([{ reason: `proxy_${k}` }, v]);
        return out;
      },
    );
    scrapedCounter(
      r,
      'baton_server_migrations_total',
      'Backend mode: seamless migrations seen here, by event.',
      ['event'],
      () => {
        const m = this.server.proxiedStats?.migration;
        return m ? byKey('event', numeric(m)) : [];
      },
    );
    scrapedCounter(
      r,
      'baton_server_tickets_total',
      'Migration tickets issued, accepted, rejected (by reason).',
      ['event'],
      () => {
        const t = this.server.ticketStats;
        if (!t) return [];
        return [
          [{ event: 'issued' }, t.issued],
          [{ event: 'accepted' }, t.accepted],
          ...Object.entries(t.rejected).map(([k, v]) => [{ event: `rejected_${k}` }, v] as const),
        ] as Sample<'event'>[];
      },
    );
    this.tick = new Histogram({
      name: 'baton_server_tick_seconds',
      help: 'Duration of one server step (receive, deliver, replicate, flush), seconds.',
      buckets: TICK_BUCKETS,
      registers: [r],
    });
    this.rtt = new Histogram({
      name: 'baton_server_rtt_seconds',
      help: 'Round trip of users’ links (behind a proxy: the client’s hop, as the proxy reports it), sampled once a second per user.',
      buckets: RTT_BUCKETS,
      registers: [r],
    });
    this.timer = setInterval(() => {
      for (const u of this.server.users) if (u.connected) this.rtt.observe(u.rttMs / 1000);
    }, 1000);
    this.timer.unref?.();
  }

  /** @internal The server reports each step's duration, ms. */
  observeTick(ms: number): void {
    this.tick.observe(ms / 1000);
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The numeric fields of a stats object (nested objects left out). */
function numeric(o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return out;
}

function proxiedNumbers(
  p: ProxiedStats | undefined,
): Partial<Record<'bytesIn' | 'bytesOut' | 'framesIn' | 'framesOut', number>> {
  if (!p) return {};
  const n = numeric(p);
  return { bytesIn: n.bytesIn, bytesOut: n.bytesOut, framesIn: n.framesIn, framesOut: n.framesOut };
}
