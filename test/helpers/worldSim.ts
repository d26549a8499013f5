import { Client, type ClientOptions } from '../../src/client/index.js';
import { component, defineProtocol, type Entity, message, t } from '../../src/index.js';
import { LinkConnection } from '../../src/link/index.js';
import { OfflineAuthenticator, Server, type ServerOptions, type User } from '../../src/server/index.js';
import { defaultLinkFactory } from '../../src/session/defaultLink.js';
import type { LinkFactory, LinkLike } from '../../src/session/linkTypes.js';
import type { LinkConditionerConfig } from '../../src/transport/browser.js';
import { MemoryHub } from '../../src/transport/browser.js';
import type { TransportAddress } from '../../src/transport/types.js';
import { ManualClock } from '../../src/util/Clock.js';
import { settle } from './sim.js';

export const Position = component('Position', { x: t.f32, y: t.f32 });
export const Health = component('Health', { hp: t.u16, max: t.u16 });
export const Label = component('Label', { text: t.string(24) });
export const Move = message('Move', { dx: t.i8, dy: t.i8 });

const definition = {
  tickRate: 20,
  components: [Position, Health, Label],
  messages: [Move],
  channels: { input: { mode: 'tick-buffered' as const }, events: { mode: 'ordered-reliable' as const } },
};
/** Server-owned entities only. */
export const worldProtocol = defineProtocol(definition);
/** The same, and clients may own entities. */
export const ownedProtocol = defineProtocol({ ...definition, clientAuthoritativeEntities: true });
export type WorldChannels = 'input' | 'events';

/** Component name → plain values of an entity (comparable with toEqual). */
export type EntityView = Record<string, Record<string, unknown>>;

export function viewOf(e: Entity): EntityView {
  const out: EntityView = {};
  for (const inst of e.components) {
    if (!inst) continue;
    const rec: Record<string, unknown> = {};
    inst.kind.keys.forEach((k, i) => {
      rec[k] = inst.values[i];
    });
    out[inst.kind.name] = rec;
  }
  return out;
}

/** Whose a recorded link is: a client's (set once the client exists) or the server's (none). */
export interface LinkOwner {
  client?: Client<WorldChannels>;
}

/**
 * A deterministic world over the real session stack: one ManualClock drives a MemoryHub (with
 * its seeded link conditioner), a Server and its Clients. `tick()` advances one protocol tick,
 * delivers what fell due, then steps the server and every client.
 */
export class WorldSim {
  readonly clock = new ManualClock(1000);
  readonly hub: MemoryHub;
  readonly server: Server<WorldChannels>;
  readonly clients: Client<WorldChannels>[] = [];
  readonly tickMs: number;
  address!: TransportAddress;
  /** Called at the end of every tick (after the server and every client stepped): per-step invariants. */
  readonly afterTick: (() => void)[] = [];
  /** Every datagram link built for this world, both ends, so {@link quiet} can ask them. */
  protected readonly links: { link: LinkLike; owner: LinkOwner }[] = [];

  constructor(
    readonly protocol = worldProtocol,
    opts: { seed?: number; conditioner?: LinkConditionerConfig; server?: ServerOptions } = {},
  ) {
    this.tickMs = protocol.tickIntervalMs;
    this.hub = new MemoryHub({ clock: this.clock, seed: opts.seed ?? 1, conditioner: opts.conditioner });
    this.server = new Server(protocol, {
      clock: this.clock,
      authenticator: new OfflineAuthenticator(),
      linkFactory: this.recordLinks(),
      ...opts.server,
    });
  }

  /** A link factory that remembers each link it builds, and whose it is (`owner.client`, set once known). */
  protected recordLinks(owner: LinkOwner = {}): LinkFactory {
    return (args) => {
      const link = defaultLinkFactory(args);
      this.links.push({ link, owner });
      return link;
    };
  }

  async listen(): Promise<this> {
    this.address = await this.server.listen(this.hub.server());
    return this;
  }

  /** Connect a new client (ticking until accepted; `prepare` runs before `connect()`) and return it with its server-side User. */
  async join(
    name: string,
    options: ClientOptions = {},
    prepare?: (client: Client<WorldChannels>) => void,
  ): Promise<{ client: Client<WorldChannels>; user: User }> {
    const owner: LinkOwner = {};
    const client = new Client(this.protocol, {
      clock: this.clock,
      linkFactory: this.recordLinks(owner),
      ...options,
    });
    owner.client = client;
    prepare?.(client);
    this.clients.push(client);
    let accepted = false;
    let failed: unknown;
    client.connect(this.hub.client(this.address), { username: name }).then(
      () => (accepted = true),
      (e) => (failed = e),
    );
    await this.until(() => accepted || failed !== undefined, 1000);
    if (!accepted) throw new Error(`${name} did not connect: ${failed}`);
    const user = this.server.users.find((u) => u.username === name);
    if (!user) throw new Error(`no server user for ${name}`);
    return { client, user };
  }

  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      await settle();
      this.hub.advance(this.tickMs);
      this.server.step();
      for (const c of this.clients) c.step();
      for (const f of this.afterTick) f();
    }
  }

  async until(done: () => boolean, maxTicks = 500): Promise<boolean> {
    for (let i = 0; i < maxTicks && !done(); i++) await this.tick();
    return done();
  }

  /**
   * Every world connection, both ends, is idle and no live datagram link holds unacknowledged
   * reliable bytes (so no ViewRadius or other control packet is still on its way). The hub
   * itself is not asked: link heartbeats at independent phases can keep it busy forever.
   */
  quiet(): boolean {
    for (const u of this.server.users) {
      const conn = this.server.world.connection(u);
      if (conn && !conn.idle) return false;
    }
    for (const c of this.clients) if (c.connected && c.world && !c.world.connection.idle) return false;
    for (const { link, owner } of this.links) {
      // links of closed clients never see their last acks; server-side ones time out after them
      if (owner.client && !owner.client.connected) continue;
      if (link.timedOut || !(link instanceof LinkConnection)) continue;
      if (link.pendingBytes > 0) return false;
    }
    return true;
  }

  /** Perfect link; let conditioned datagrams (≤ 100 ms late) land; tick until quiet 3 ticks in a row. */
  async settleWorld(maxTicks = 600): Promise<void> {
    this.hub.setConditioner(undefined);
    await this.tick(4);
    let quietFor = 0;
    for (let i = 0; i < maxTicks; i++) {
      await this.tick();
      if (this.quiet()) {
        if (++quietFor >= 3) return;
      } else quietFor = 0;
    }
    throw new Error('world did not settle');
  }

  /** What `user` should see: the server world within its scope, keyed by the wire id it was given. */
  expectedView(user: User): Map<number, EntityView> {
    const conn = this.server.world.connection(user)!;
    const out = new Map<number, EntityView>();
    for (const e of this.server.entities()) {
      if (!this.server.inScope(user, e)) continue;
      const id = conn.map.hostOf(e.id);
      if (id === undefined) throw new Error(`entity ${e.id} in scope but not hosted`);
      out.set(id, viewOf(e));
    }
    return out;
  }

  /** What the client has from the server, keyed by wire id. */
  clientView(client: Client<WorldChannels>): Map<number, EntityView> {
    const out = new Map<number, EntityView>();
    const world = client.world;
    if (!world) return out;
    for (const e of client.entities()) {
      if (e.isLocal) continue;
      const id = world.connection.map.remoteOf(e.id);
      if (id === undefined) throw new Error('replicated entity without a wire id');
      out.set(id, viewOf(e));
    }
    return out;
  }

  /** The client's copy of a server entity, found through the wire id the server gave it for `user`. */
  copyOf(client: Client<WorldChannels>, user: User, e: Entity): Entity | undefined {
    const id = this.server.world.connection(user)?.map.hostOf(e.id);
    return id === undefined ? undefined : client.world?.entityByRemoteId(id);
  }

  /** Replicated (not own) entities of a client. */
  remoteEntities(client: Client<WorldChannels>): Entity[] {
    return [...client.entities()].filter((e) => !e.isLocal);
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
    await this.server.close();
    await this.hub.close();
  }
}
