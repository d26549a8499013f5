import { BitReader } from '../../serde/BitReader.js';
import { component } from '../../serde/definitions.js';
import { t } from '../../serde/types.js';
import type { ComponentRegistry } from '../ComponentRegistry.js';
import type { Entity } from '../Entity.js';
import { entityRef } from '../entityRef.js';
import { decodeFrame, type InCommand } from '../frame.js';
import type { WorldConnectionOptions } from '../WorldConnection.js';
import type { LinkConditions, LossyWorldPipe } from './LossyWorldPipe.js';
import { type HarnessClient, viewOf, WorldHarness } from './WorldHarness.js';

/** Components of the delegation tests. */
export const Position = component('Position', { x: t.f32, y: t.f32 });
export const Health = component('Health', { hp: t.u8 });
export const Tag = component('Tag', { text: t.string(16) });
export const Follow = component('Follow', { target: entityRef });
export const DELEGATION_DEFS = [Position, Health, Tag, Follow];

const SERVER_EVENTS = [
  'spawn',
  'despawn',
  'publish',
  'unpublish',
  'delegate',
  'undelegate',
  'authGranted',
  'authDenied',
  'authReset',
] as const;
const CLIENT_EVENTS = [
  'spawn',
  'despawn',
  'publish',
  'unpublish',
  'delegate',
  'undelegate',
  'authGranted',
  'authDenied',
  'authReset',
] as const;

/**
 * A server, an owner `a` and a watcher `b` (more on request) sharing one room; client entities
 * join the room when the server first sees them. Every world event is logged as
 * `who:event[:user]` with the entity it concerns, so tests can count transitions exactly.
 */
export function delegationSetup(
  opts: {
    seed?: number;
    conditions?: LinkConditions;
    connection?: WorldConnectionOptions;
    clients?: string[];
  } = {},
) {
  const h = new WorldHarness(DELEGATION_DEFS, {
    seed: opts.seed ?? 7,
    conditions: opts.conditions,
    server: { allowClientEntities: true },
    connection: opts.connection,
  });
  const keys = opts.clients ?? ['a', 'b'];
  const clients = new Map<string, HarnessClient>();
  for (const k of keys) clients.set(k, h.addClient(k, { allowClientEntities: true }));
  const room = h.server.createRoom();
  for (const k of keys) room.addUser(k);
  const log: { tag: string; entity: Entity }[] = [];
  h.server.on('spawn', (e) => room.addEntity(e));
  for (const ev of SERVER_EVENTS) {
    h.server.on(ev, ((e: Entity, user?: unknown) =>
      // publish's second argument is the mode, not a user
      log.push({
        tag: typeof user === 'string' && ev !== 'publish' ? `s:${ev}:${user}` : `s:${ev}`,
        entity: e,
      })) as never);
  }
  for (const [k, c] of clients) {
    for (const ev of CLIENT_EVENTS)
      c.world.on(ev, ((e: Entity) => log.push({ tag: `${k}:${ev}`, entity: e })) as never);
  }
  /** How often `tag` was logged (for `entity` only, when given). */
  const count = (tag: string, entity?: Entity) =>
    log.filter((l) => l.tag === tag && (entity === undefined || l.entity === entity)).length;
  return { h, a: clients.get(keys[0])!, b: clients.get(keys[1])!, clients, room, log, count };
}

/** The server's copy of a client-authored entity, found through the ids of the owner's connection. */
export function serverEntityOf(h: WorldHarness, owner: string, local: Entity): Entity | undefined {
  const c = h.clients.get(owner)!;
  const conn = h.server.connection(owner)!;
  const host = c.world.connection.map.hostOf(local.id);
  if (host !== undefined) {
    const g = conn.map.globalOfRemote(host);
    if (g !== undefined) return h.server.entity(g);
  }
  const remote = c.world.connection.map.remoteOf(local.id);
  if (remote !== undefined) {
    const g = conn.map.globalOfHost(remote);
    if (g !== undefined) return h.server.entity(g);
  }
  return undefined;
}

/** `key`'s copy of a server entity (undefined when not in its world). */
export function clientEntityOf(h: WorldHarness, key: string, server: Entity): Entity | undefined {
  const c = h.clients.get(key)!;
  const conn = h.server.connection(key)!;
  const host = conn.map.hostOf(server.id);
  if (host === undefined) return undefined;
  return c.world.entityByRemoteId(host);
}

/** Drop (up to `times`) frames on `pipe` that carry a command matching `pred`. */
export function dropFramesWith(
  pipe: LossyWorldPipe,
  registry: ComponentRegistry,
  pred: (c: InCommand) => boolean,
  times = 1,
): () => number {
  let dropped = 0;
  pipe.dropIf = (f) => {
    if (dropped >= times) return false;
    const d = decodeFrame(new BitReader(f), registry);
    if (d.commands.some(pred)) {
      dropped++;
      return true;
    }
    return false;
  };
  return () => dropped;
}

/** Plain values of an entity, comparable with toEqual. */
export function plain(e: Entity | undefined): Record<string, Record<string, unknown>> | undefined {
  if (!e) return undefined;
  return Object.fromEntries(viewOf(e));
}

/** Tick until `cond` holds (at most `max` ticks); returns the ticks taken. */
export function tickUntil(h: WorldHarness, cond: () => boolean, max = 400): number {
  for (let i = 0; i < max; i++) {
    if (cond()) return i;
    h.tick();
  }
  throw new Error('condition not reached');
}
