import { epochsAhead } from '../session/epoch.js';
import { FIRST_PROTOCOL_CHANNEL } from '../session/Protocol.js';
import type { MigratePacket } from '../session/packets/types.js';

/** Bounds of a {@link MigrationGate}: a hostile proxy must not make the client hold without end. */
export interface MigrationGateBounds {
  /** Migrates waiting for earlier messages (a move and its rollback need 2; default 4). */
  maxPendingMigrates: number;
  /** Messages of a later epoch held until their Migrate applies (default 4096). */
  maxHeldMessages: number;
  /** Bytes of those messages (default 4 MiB). */
  maxHeldBytes: number;
}

export const DEFAULT_MIGRATION_GATE_BOUNDS: Readonly<MigrationGateBounds> = Object.freeze({
  maxPendingMigrates: 4,
  maxHeldMessages: 4096,
  maxHeldBytes: 4 * 1024 * 1024,
});

interface Held {
  readonly epoch: number;
  readonly channel: number;
  readonly payload: Uint8Array;
}

/**
 * The client's cross-channel barrier for seamless migrations (DESIGN §5 "Cutover").
 *
 * On a proxied session every server → client message carries the world epoch it was relayed
 * in (its first byte, `session/epoch.ts`), so each message says by itself which side of a swap
 * it belongs to, whatever channel it came on and whatever overtook it:
 *
 * - a message of the current epoch is delivered;
 * - a message of a later epoch (the new backend's, arriving before its `Migrate`, or before
 *   the old backend's last messages) is held, and delivered right after that `Migrate` is
 *   applied, in arrival order;
 * - a message of an epoch already left is dropped and counted (`staleMessages`): only an
 *   unreliable or sequenced message can arrive that late (see below).
 *
 * `Migrate` (epoch e+1) lists per reliable channel (ordered- and unordered-reliable) how many
 * messages of epoch e the proxy relayed on it; the gate applies it only once that many
 * epoch-e messages have arrived on each, so every reliable message of the old backend is
 * delivered before the swap. Counting is safe here because only epoch-e messages are counted.
 *
 * Bounded: more than `maxPendingMigrates` Migrates waiting, a Migrate out of sequence, a
 * message without its epoch byte, or held messages beyond `maxHeldMessages`/`maxHeldBytes`
 * make the gate fail with a reason (the client disconnects with it). Browser-safe.
 */
export class MigrationGate {
  /** Messages of the current epoch received, per protocol channel. */
  private readonly received: number[];
  private pending: MigratePacket[] = [];
  private held: Held[] = [];
  private heldBytes = 0;
  private failed = false;
  private current: number;

  constructor(
    channels: number,
    epoch: number,
    private readonly deliver: (channel: number, payload: Uint8Array) => void,
    private readonly apply: (m: MigratePacket) => void,
    private readonly fail: (reason: string) => void,
    private readonly counters: { staleMessages: number },
    private readonly bounds: MigrationGateBounds = DEFAULT_MIGRATION_GATE_BOUNDS,
  ) {
    this.received = new Array(channels).fill(0);
    this.current = epoch & 0xff;
  }

  /** The epoch whose messages are delivered now. */
  get epoch(): number {
    return this.current;
  }

  /** A Migrate is waiting for earlier messages. */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** Messages held for a later epoch. */
  get heldCount(): number {
    return this.held.length;
  }

  /** One server → client message from the link: protocol channel, `u8 epoch` + payload. */
  message(channel: number, tagged: Uint8Array): void {
    if (this.failed || channel < 0 || channel >= this.received.length) return;
    if (tagged.length === 0) {
      this.stop('protocol error: a message without its epoch byte');
      return;
    }
    const epoch = tagged[0];
    const payload = tagged.subarray(1);
    const ahead = epochsAhead(this.current, epoch);
    if (ahead === 0) {
      this.received[channel]++;
      this.deliver(channel, payload);
      this.tryApply();
    } else if (ahead <= this.bounds.maxPendingMigrates) this.hold({ epoch, channel, payload });
    else this.counters.staleMessages++; // an epoch already left: only unreliable/sequenced get here
  }

  /** A Migrate arrived (control channel). */
  migrate(m: MigratePacket): void {
    if (this.failed) return;
    const expected = (this.current + this.pending.length + 1) & 0xff;
    if (m.epoch !== expected) {
      this.stop(`protocol error: Migrate to epoch ${m.epoch} out of sequence (expected ${expected})`);
      return;
    }
    if (this.pending.length >= this.bounds.maxPendingMigrates) {
      this.stop(`protocol error: more than ${this.bounds.maxPendingMigrates} Migrates pending`);
      return;
    }
    this.pending.push(m);
    this.tryApply();
  }

  private hold(h: Held): void {
    if (this.held.length >= this.bounds.maxHeldMessages) {
      this.stop(`migration barrier: more than ${this.bounds.maxHeldMessages} messages held`);
      return;
    }
    if (this.heldBytes + h.payload.length > this.bounds.maxHeldBytes) {
      this.stop(`migration barrier: more than ${this.bounds.maxHeldBytes} bytes held`);
      return;
    }
    // the link may reuse its buffer: keep a copy
    this.held.push({ epoch: h.epoch, channel: h.channel, payload: h.payload.slice() });
    this.heldBytes += h.payload.length;
  }

  private ready(m: MigratePacket): boolean {
    for (const b of m.barrier) {
      const c = b.linkChannel - FIRST_PROTOCOL_CHANNEL;
      if (c >= 0 && c < this.received.length && this.received[c] < b.count) return false;
    }
    return true;
  }

  private tryApply(): void {
    while (!this.failed && this.pending.length > 0 && this.ready(this.pending[0])) {
      const m = this.pending.shift()!;
      this.current = m.epoch;
      this.received.fill(0);
      this.apply(m);
      // the new epoch's messages that came early, in arrival order, after the swap
      const now: Held[] = [];
      const later: Held[] = [];
      for (const h of this.held) (h.epoch === this.current ? now : later).push(h);
      this.held = later;
      for (const h of now) this.heldBytes -= h.payload.length;
      for (const h of now) {
        if (this.failed) return;
        this.received[h.channel]++;
        this.deliver(h.channel, h.payload);
      }
    }
  }

  private stop(reason: string): void {
    this.failed = true;
    this.pending = [];
    this.held = [];
    this.heldBytes = 0;
    this.fail(reason);
  }
}
