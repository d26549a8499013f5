/**
 * Draining a backend (DESIGN §6): every player on it is migrated seamlessly to another backend
 * of its pool, a few at a time, then the backend leaves the pool. A migration that rolls back
 * (the player stayed, nothing lost) is tried again, towards whichever backend is then the least
 * loaded; a player that still cannot move is reported, not dropped.
 */
import type { MigrationResult } from './migration/MigrationOrchestrator.js';

/** Options of `proxy.drain`. */
export interface DrainOptions {
  /** Migrations under way at once (default 8). */
  concurrency?: number;
  /** Attempts per player before it is reported as not moved (default 3). */
  attempts?: number;
  /** Remove the backend from the registry and close the link to it once empty (default true). */
  remove?: boolean;
}

/** How a drain went. */
export interface DrainResult {
  readonly backendId: string;
  /** Players migrated away. */
  readonly moved: number;
  /** Players that could not be moved (still on the backend), with the last reason. */
  readonly failed: readonly { readonly sessionId: number; readonly reason: string }[];
  /** Whether the backend left the registry. */
  readonly removed: boolean;
  /** The registry does not know this backend (nothing was done). */
  readonly unknown?: boolean;
}

/** What a drain needs of the proxy. */
export interface DrainHost {
  /** Active players on `backendId` not already migrating. */
  playersOn(backendId: string): number[];
  /** A target for `sessionId` in its pool other than `backendId`, or undefined. */
  pickTarget(sessionId: number, backendId: string): Promise<string | undefined>;
  migrate(sessionId: number, target: string): Promise<MigrationResult>;
}

/** Run `jobs` with at most `limit` at once. */
export async function runBounded<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await job(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * Move every player off `backendId`. Players that arrive meanwhile (routed before the backend
 * was marked draining) are picked up by later rounds; the rounds are bounded by `attempts`.
 */
export async function drainPlayers(
  host: DrainHost,
  backendId: string,
  options: DrainOptions = {},
): Promise<{ moved: number; failed: { sessionId: number; reason: string }[] }> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const tries = new Map<number, number>();
  const lastReason = new Map<number, string>();
  let moved = 0;
  for (let round = 0; round < attempts + 1; round++) {
    const todo = host.playersOn(backendId).filter((id) => (tries.get(id) ?? 0) < attempts);
    if (todo.length === 0) break;
    await runBounded(todo, options.concurrency ?? 8, async (id) => {
      tries.set(id, (tries.get(id) ?? 0) + 1);
      const target = await host.pickTarget(id, backendId);
      if (!target) {
        lastReason.set(id, 'no other backend in its pool takes players');
        return;
      }
      const result = await host.migrate(id, target);
      if (result.ok) moved++;
      else lastReason.set(id, `${result.state}: ${result.reason}`);
    });
  }
  const failed = host
    .playersOn(backendId)
    .map((sessionId) => ({ sessionId, reason: lastReason.get(sessionId) ?? 'still on the backend' }));
  return { moved, failed };
}
