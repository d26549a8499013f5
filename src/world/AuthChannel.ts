/**
 * Per-entity publicity/authority stream (DESIGN §3–4): the receiver's view of whether an entity
 * is Unpublished, Published or Delegated, rebuilt in causal order from commands that arrive in
 * any order. This issue only needs publish/unpublish; the delegation operations are modelled so
 * the next issue can add behaviour (authority requests, migration) on a tested state machine.
 *
 * Ids are the connection's *unwrapped* command ids (exact integers), so ordering inside an
 * entity never meets a 16-bit wrap; the channel starts from the spawn epoch, not from a
 * sentinel, so every later command is accepted however far the wire ids have wrapped.
 */
export type AuthState = 'unpublished' | 'published' | 'delegated';
export type AuthOp = 'publish' | 'unpublish' | 'enableDelegation' | 'disableDelegation';

/** Outcome of offering one operation to the channel. */
export type AuthOffer = 'applied' | 'buffered' | 'stale' | 'duplicate';

const NEXT: Record<AuthState, Partial<Record<AuthOp, AuthState>>> = {
  unpublished: { publish: 'published' },
  published: { unpublish: 'unpublished', enableDelegation: 'delegated' },
  delegated: { disableDelegation: 'published', unpublish: 'unpublished' },
};

/** Largest number of operations one entity may hold waiting for a predecessor. */
export const AUTH_BUFFER_LIMIT = 64;

export class AuthChannel {
  private stateValue: AuthState;
  private lastId: number;
  private readonly pending: { id: number; op: AuthOp }[] = [];

  /** @param epoch the id of the command that created the entity (spawn); later ids are accepted. */
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
  offer(id: number, op: AuthOp, onApply?: (op: AuthOp, state: AuthState) => void): AuthOffer {
    if (id <= this.lastId) return 'stale';
    if (this.pending.some((p) => p.id === id)) return 'duplicate';
    const next = NEXT[this.stateValue][op];
    if (next === undefined) {
      if (this.pending.length >= AUTH_BUFFER_LIMIT) throw new RangeError('auth channel buffer full');
      this.pending.push({ id, op });
      this.pending.sort((a, b) => a.id - b.id);
      return 'buffered';
    }
    this.apply(id, op, next, onApply);
    this.drain(onApply);
    return 'applied';
  }

  private apply(id: number, op: AuthOp, next: AuthState, onApply?: (op: AuthOp, s: AuthState) => void): void {
    this.lastId = id;
    this.stateValue = next;
    onApply?.(op, next);
  }

  private drain(onApply?: (op: AuthOp, s: AuthState) => void): void {
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
          this.apply(p.id, p.op, next, onApply);
          progressed = true;
          break;
        }
      }
    }
  }
}
