/**
 * What the demo page shows and what it steers, read from the running demo: the proxy's sessions
 * and migration counters, the avatars on the backends, the inputs counted. It also moves each
 * page visitor to the backend that owns the region its avatar stands in (a seamless migration
 * through the proxy), which is how crossing a border on the page migrates the player.
 */
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy
import type { Proxy, ProxyEvents } from '../../proxy/Proxy.js';
import { type DemoMigrationEvent, type DemoSnapshot, regionIndex, VISITOR_PREFIX } from './geometry.js';

/** What the demo exposes to its page. */
export interface DemoCluster {
  readonly proxy: Proxy;
  /** Backend ids, left to right on the map. */
  readonly backends: readonly string[];
  /** The avatar position of the player `uuid` on backend `backendId`, if it has one there. */
  avatarAt(backendId: string, uuid: string): { x: number; y: number } | undefined;
  /** Inputs of the player `uuid` processed by the backends so far. */
  processedOf(uuid: string): number;
  /** The bots' inputs: sent, and processed by the backends. */
  botInputs(): { sent: number; processed: number };
}

/** Most migration events kept between two snapshots (a page that stops reading loses old ones). */
const MAX_EVENTS = 256;

export class ClusterView {
  private events: DemoMigrationEvent[] = [];
  private readonly steering = new Set<number>();
  private readonly onMigration: ProxyEvents['migration'];

  constructor(private readonly cluster: DemoCluster) {
    this.onMigration = (info, result) => {
      if (this.events.length >= MAX_EVENTS) this.events.shift();
      this.events.push(
        result.ok
          ? { name: info.username, from: result.from, to: result.to, ok: true, freezeMs: result.freezeMs }
          : { name: info.username, from: result.from, to: result.to, ok: false, reason: result.reason },
      );
    };
    cluster.proxy.on('migration', this.onMigration);
  }

  /** True for a player the page steers (a page visitor, not a bot). */
  static isVisitor(username: string): boolean {
    return username.startsWith(VISITOR_PREFIX);
  }

  /**
   * Moves each visitor whose avatar left its backend's region to the region's backend, one
   * migration at a time per visitor.
   */
  steer(): void {
    const { proxy, backends } = this.cluster;
    for (const s of proxy.sessions()) {
      if (!ClusterView.isVisitor(s.username) || s.state !== 'active' || s.migration) continue;
      if (this.steering.has(s.id) || s.backendId === undefined) continue;
      const at = this.cluster.avatarAt(s.backendId, s.uuid);
      if (!at) continue;
      const want = backends[regionIndex(at.x, backends.length)];
      if (want === s.backendId) continue;
      this.steering.add(s.id);
      void proxy.migrate(s.id, want).finally(() => this.steering.delete(s.id));
    }
  }

  /** The picture now; hands over (and forgets) the migration events since the previous one. */
  snapshot(): DemoSnapshot {
    const { proxy, backends } = this.cluster;
    const sessions = proxy.sessions().filter((s) => s.state === 'active');
    const players: DemoSnapshot['players'][number][] = [];
    const visitors: Record<string, number> = {};
    for (const s of sessions) {
      const visitor = ClusterView.isVisitor(s.username);
      if (visitor) visitors[s.uuid] = this.cluster.processedOf(s.uuid);
      const at = s.backendId === undefined ? undefined : this.cluster.avatarAt(s.backendId, s.uuid);
      if (!at) continue;
      players.push({
        name: s.username,
        backend: s.backendId!,
        x: at.x,
        y: at.y,
        visitor,
        migrating: s.migration !== undefined,
      });
    }
    const m = proxy.stats.migration;
    const events = this.events;
    this.events = [];
    return {
      backends: backends.map((id) => ({ id, players: sessions.filter((s) => s.backendId === id).length })),
      players,
      migrations: {
        completed: m.completed,
        failed: m.rolledBack + m.fallbacks,
        inFlight: m.inFlight,
        freezeP50: m.freezeMs.p50,
        freezeP99: m.freezeMs.p99,
      },
      bots: this.cluster.botInputs(),
      visitors,
      events,
    };
  }

  close(): void {
    this.cluster.proxy.off('migration', this.onMigration);
  }
}
