/**
 * Per-entity publicity/authority stream (DESIGN §3–4): the receiver's view of whether an entity
 * is Unpublished, Published or Delegated, plus the authority sub-commands of a delegated one,
 * rebuilt in causal order from commands that arrive in any order.
 *
 * Ids are the connection's *unwrapped* command ids (exact integers), so ordering inside an
 * entity never meets a 16-bit wrap; the channel starts from the id of the command that created
 * it (a spawn, or the MigrateResponse of a migrated entity), never from a sentinel, so every
 * later command is accepted however far the wire ids have wrapped.
 */
export type AuthState = 'unpublished' | 'published' | 'delegated';
export type AuthOp = 'publish' | 'unpublish' | 'enableDelegation' | 'disableDelegation' | 'setAuthority';

/** Outcome of offering one operation to the channel. */
export type AuthOffer = 'applied' | 'buffered' | 'stale' | 'duplicate';

/** Called for every applied operation, in causal order (`arg`: the op's argument, e.g. a status). */
export type AuthApply = (op: AuthOp, state: AuthState, arg: number, id: number) => void;

const NEXT: Record<AuthState, Partial<Record<AuthOp, AuthState>>> = {
  unpublished: { publish: 'published' },
  published: { unpublish: 'unpublished', enableDelegation: 'delegated' },
  // authority sub-commands exist only inside delegation; each one replaces the previous
  delegated: { disableDelegation: 'published', unpublish: 'unpublished', setAuthority: 'delegated' },
};

/** Where a force-applied op leaves the state, whatever it was (migration drain). */
const FORCED: Record<AuthOp, AuthState> = {
  publish: 'published',
  unpublish: 'unpublished',
  enableDelegation: 'delegated',
  disableDelegation: 'published',
  setAuthority: 'delegated',
};

/** Largest number of operations one entity may hold waiting for a predecessor. */
export const AUTH_BUFFER_LIMIT = 64;

interface Pending {
  id: number;
  op: AuthOp;
  arg: number;
}

export class AuthChannel {
  private stateValue: AuthState;
  private lastId: number;
  private readonly pending: Pending[] = [];

  /**
   * @param epoch the exact id of the command that created the channel (spawn or migration);
   *   every later id is accepted.
   */
  constructor(epoch: number, initial: AuthState = 'unpublished') {
    this.lastId = epoch;
    this.stateValue = initial;
  }

  get state(): AuthState {
    return this.stateValue;
  }

  get lastAppliedId(): number {
    return this.lastId;
  }

  get bufferedCount(): number {
    return this.pending.length;
  }

  /** Whether `op` is a legal transition from the current state. */
  static allowed(state: AuthState, op: AuthOp): boolean {
    return NEXT[state][op] !== undefined;
  }

  /**
   * Offer operation `op` with id `id`. Applied ops (including buffered ones released by it)
   * are reported through `onApply` in causal order. Throws RangeError when the buffer limit is
   * exceeded (the caller treats that as a protocol violation).
   */
  offer(id: number, op: AuthOp, onApply?: AuthApply, arg = 0): AuthOffer {
    if (id <= this.lastId) return 'stale';
    if (this.pending.some((p) => p.id === id)) return 'duplicate';
    const next = NEXT[this.stateValue][op];
    if (next === undefined) {
      if (this.pending.length >= AUTH_BUFFER_LIMIT) throw new RangeError('auth channel buffer full');
      this.pending.push({ id, op, arg });
      this.pending.sort((a, b) => a.id - b.id);
      return 'buffered';
    }
    this.apply(id, op, arg, next, onApply);
    this.drain(onApply);
    return 'applied';
  }

  /**
   * Migration: apply every buffered operation newer than the last applied one, in id order,
   * whether or not it is legal yet (the op's own target state is taken). Nothing is dropped
   * but what a newer applied op already superseded. Returns how many were applied.
   */
  forceDrain(onApply?: AuthApply): number {
    let n = 0;
    const list = this.pending.splice(0);
    for (const p of list) {
      if (p.id <= this.lastId) continue;
      this.apply(p.id, p.op, p.arg, FORCED[p.op], onApply);
      n++;
    }
    return n;
  }

  private apply(id: number, op: AuthOp, arg: number, next: AuthState, onApply?: AuthApply): void {
    this.lastId = id;
    this.stateValue = next;
    onApply?.(op, next, arg, id);
  }

  private drain(onApply?: AuthApply): void {
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        if (p.id <= this.lastId) {
          this.pending.splice(i, 1);
          i--;
          continue;
        }
        const next = NEXT[this.stateValue][p.op];
        if (next !== undefined) {
          this.pending.splice(i, 1);
          this.apply(p.id, p.op, p.arg, next, onApply);
          progressed = true;
          break;
        }
      }
    }
  }
}
