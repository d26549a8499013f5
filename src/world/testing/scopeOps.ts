import type { Entity } from '../Entity.js';
import type { Room } from '../Room.js';
import type { ServerWorld } from '../ServerWorld.js';

/** The scope-changing operations that the scope property tests share. */
export type ScopeOp =
  | { op: 'despawn'; e: number }
  | { op: 'roomUser'; room: number; user: number; add: boolean }
  | { op: 'roomEntity'; room: number; e: number; add: boolean }
  | { op: 'scope'; user: number; e: number; mode: number }
  | { op: 'policy'; e: number; keep: boolean };

/**
 * Apply one {@link ScopeOp}: `pick(i)` chooses a live entity (or none), `users[o.user]` and
 * `rooms[o.room]` the user and room. Scope mode 0 = include, 1 = exclude, else reset.
 */
export function applyScopeOp(
  sw: ServerWorld<string>,
  rooms: readonly Room<string>[],
  users: readonly string[],
  pick: (i: number) => Entity | undefined,
  o: ScopeOp,
): void {
  switch (o.op) {
    case 'despawn':
      pick(o.e)?.despawn();
      break;
    case 'roomUser':
      if (o.add) rooms[o.room].addUser(users[o.user]);
      else rooms[o.room].removeUser(users[o.user]);
      break;
    case 'roomEntity': {
      const e = pick(o.e);
      if (e && o.add) rooms[o.room].addEntity(e);
      else if (e) rooms[o.room].removeEntity(e);
      break;
    }
    case 'scope': {
      const e = pick(o.e);
      if (!e) break;
      if (o.mode === 0) sw.include(users[o.user], e);
      else if (o.mode === 1) sw.exclude(users[o.user], e);
      else sw.resetScope(users[o.user], e);
      break;
    }
    case 'policy':
      pick(o.e)?.setScopeExitPolicy(o.keep ? 'keep' : 'despawn');
      break;
  }
}
