import { ManualClock } from '../../util/Clock.js';
import { SeededRandom } from '../../util/SeededRandom.js';
import { ClientWorld } from '../ClientWorld.js';
import type { AnyComponentDef } from '../ComponentRegistry.js';
import type { Entity } from '../Entity.js';
import type { WorldError } from '../errors.js';
import { ServerWorld, type ServerWorldOptions } from '../ServerWorld.js';
import type { WorldConnectionOptions } from '../WorldConnection.js';
import { type LinkConditions, LossyWorldPipe, PERFECT_LINK } from './LossyWorldPipe.js';

/** One simulated client: its world and both directions of its link. */
export interface HarnessClient {
  key: string;
  world: ClientWorld;
  /** client → server */
  up: LossyWorldPipe;
  /** server → client */
  down: LossyWorldPipe;
}

/** A plain, comparable picture of a set of entities: wire id → component name → values. */
export type WorldView = Map<number, Map<string, Record<string, unknown>>>;

/**
 * A server and any number of clients wired with {@link LossyWorldPipe}s on one ManualClock,
 * for deterministic end-to-end world tests.
 */
export class WorldHarness {
  readonly clock = new ManualClock(0);
  readonly random: SeededRandom;
  readonly server: ServerWorld<string>;
  readonly clients = new Map<string, HarnessClient>();
  readonly errors: WorldError[] = [];
  conditions: LinkConditions;

  constructor(
    readonly components: readonly AnyComponentDef[],
    opts: {
      seed?: number;
      conditions?: LinkConditions;
      server?: Partial<ServerWorldOptions>;
      connection?: WorldConnectionOptions;
      maxFrameBytes?: number;
    } = {},
  ) {
    this.random = new SeededRandom(opts.seed ?? 1);
    this.conditions = opts.conditions ?? PERFECT_LINK;
    this.server = new ServerWorld<string>({
      components,
      clock: this.clock,
      connection: opts.connection,
      ...opts.server,
    });
    this.maxFrameBytes = opts.maxFrameBytes ?? 1200;
    this.connection = opts.connection;
  }

  private readonly maxFrameBytes: number;
  private readonly connection: WorldConnectionOptions | undefined;

  addClient(
    key: string,
    opts: { allowClientEntities?: boolean; conditions?: LinkConditions } = {},
  ): HarnessClient {
    const cond = opts.conditions ?? this.conditions;
    let world: ClientWorld | undefined;
    const down = new LossyWorldPipe(
      this.clock,
      this.random,
      (f) => {
        const err = world!.receiveFrame(f);
        if (err) this.errors.push(err);
      },
      cond,
      this.maxFrameBytes,
    );
    const up = new LossyWorldPipe(
      this.clock,
      this.random,
      (f) => {
        if (!this.server.hasUser(key)) return;
        const err = this.server.receiveFrame(key, f);
        if (err) this.errors.push(err);
      },
      cond,
      this.maxFrameBytes,
    );
    world = new ClientWorld({
      components: this.components,
      clock: this.clock,
      pipe: up,
      allowClientEntities: opts.allowClientEntities,
      connection: this.connection,
    });
    this.server.addUser(key, down);
    const c: HarnessClient = { key, world, up, down };
    this.clients.set(key, c);
    return c;
  }

  removeClient(key: string): void {
    this.server.removeUser(key);
    this.clients.delete(key);
  }

  setConditions(cond: LinkConditions): void {
    this.conditions = cond;
    for (const c of this.clients.values()) {
      c.up.conditions = cond;
      c.down.conditions = cond;
    }
  }

  /** Advance time, deliver what is due, step server and clients. */
  tick(ms = 50): void {
    this.clock.advance(ms);
    for (const c of this.clients.values()) c.up.pump();
    for (const c of this.clients.values()) c.down.pump();
    this.server.step();
    for (const c of this.clients.values()) c.world.step();
  }

  ticks(n: number, ms = 50): void {
    for (let i = 0; i < n; i++) this.tick(ms);
  }

  /** Perfect link, then tick until every connection is idle and nothing is in flight. */
  settle(maxTicks = 400, ms = 50): number {
    this.setConditions(PERFECT_LINK);
    let quiet = 0;
    for (let i = 0; i < maxTicks; i++) {
      this.tick(ms);
      if (this.quiet()) {
        if (++quiet >= 3) return i;
      } else quiet = 0;
    }
    throw new Error('world did not settle');
  }

  quiet(): boolean {
    for (const c of this.clients.values()) {
      if (c.up.inFlight || c.down.inFlight) return false;
      if (!c.world.connection.idle) return false;
      if (!this.server.connection(c.key)!.idle) return false;
    }
    return true;
  }

  /** What `key` should see: the server world restricted to its scope, by the server's wire ids. */
  expectedView(key: string): WorldView {
    const conn = this.server.connection(key)!;
    const out: WorldView = new Map();
    for (const e of this.server.entities()) {
      if (!this.server.inScope(key, e)) continue;
      const id = conn.map.hostOf(e.id);
      if (id === undefined) throw new Error(`entity ${e.id} in scope but not hosted`);
      out.set(id, viewOf(e));
    }
    return out;
  }

  /** What `key`'s client actually has from the server (only entities that are in scope when `inScopeOnly`). */
  clientView(key: string): WorldView {
    const c = this.clients.get(key)!;
    const out: WorldView = new Map();
    for (const e of c.world.entities()) {
      if (e.isLocal) continue;
      const id = c.world.connection.map.remoteOf(e.id);
      if (id === undefined) throw new Error('client entity without wire id');
      out.set(id, viewOf(e));
    }
    return out;
  }

  /** Wire ids of entities `key`'s client keeps out of scope (policy 'keep'). */
  keptIds(key: string): Set<number> {
    const conn = this.server.connection(key)!;
    const out = new Set<number>();
    for (const ch of conn.host.channels.values()) if (ch.state === 'frozen') out.add(ch.hostId);
    return out;
  }
}

/** Component name → plain values of an entity. */
export function viewOf(e: Entity): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const inst of e.components) {
    if (!inst) continue;
    const rec: Record<string, unknown> = {};
    inst.kind.keys.forEach((k, i) => {
      rec[k] = inst.values[i];
    });
    m.set(inst.kind.name, rec);
  }
  return m;
}
