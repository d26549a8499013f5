/**
 * What the demos count to prove "inputs lost: 0": per player (by uuid, so it spans backends,
 * restarts and migrations), the inputs processed and how many arrived out of sequence.
 */
export interface InputCount {
  /** The sequence number expected next. */
  next: number;
  count: number;
  outOfOrder: number;
}

export type InputLedger = Map<string, InputCount>;

/** Count input `seq` of player `uuid`; returns its count and whether it is the player's first. */
export function recordInput(
  ledger: InputLedger,
  uuid: string,
  seq: number,
): { entry: InputCount; first: boolean } {
  let entry = ledger.get(uuid);
  const first = entry === undefined;
  if (!entry) {
    entry = { next: 1, count: 0, outOfOrder: 0 };
    ledger.set(uuid, entry);
  }
  if (seq !== entry.next) entry.outOfOrder++;
  entry.next = seq + 1;
  entry.count++;
  return { entry, first };
}
