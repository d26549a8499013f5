import { FIRST_PROTOCOL_CHANNEL } from '../session/Protocol.js';
import type { MigratePacket } from '../session/packets/types.js';

/**
 * The client's cross-channel barrier for a seamless migration (DESIGN §5 "Cutover").
 *
 * The proxy sends `Migrate` on the control channel after every message of the old backend; on
 * the client's link the channels are independent, so a message of the old backend on another
 * reliable channel may still be in flight when `Migrate` arrives. `Migrate` lists, per reliable
 * link channel, how many server → client messages the proxy had sent on it before; the gate
 * counts what arrives, applies the `Migrate` only once every count is reached, and holds the
 * messages that arrive on a listed channel after its count (the new backend's) until then.
 * Browser-safe.
 */
export class MigrationGate {
  /** Server → client messages received so far, per protocol channel (whole session). */
  private readonly received: number[];
  private pending: MigratePacket[] = [];
  private held: { channel: number; payload: Uint8Array }[] = [];

  constructor(
    channels: number,
    private readonly deliver: (channel: number, payload: Uint8Array) => void,
    private readonly apply: (m: MigratePacket) => void,
  ) {
    this.received = new Array(channels).fill(0);
  }

  /** A Migrate is waiting for earlier messages. */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** Messages held behind a pending Migrate. */
  get heldCount(): number {
    return this.held.length;
  }

  /** One message from the link (protocol channel index). */
  message(channel: number, payload: Uint8Array): void {
    if (channel < 0 || channel >= this.received.length) return;
    const n = ++this.received[channel];
    const head = this.pending[0];
    if (head) {
      const limit = this.limitOf(head, channel);
      if (limit !== undefined && n > limit) {
        // the new backend's: after the move
        this.held.push({ channel, payload });
        return;
      }
    }
    this.deliver(channel, payload);
    this.tryApply();
  }

  /** A Migrate arrived (control channel, in order with other Migrates). */
  migrate(m: MigratePacket): void {
    this.pending.push(m);
    this.tryApply();
  }

  private limitOf(m: MigratePacket, channel: number): number | undefined {
    for (const b of m.barrier) if (b.linkChannel - FIRST_PROTOCOL_CHANNEL === channel) return b.count;
    return undefined;
  }

  private ready(m: MigratePacket): boolean {
    for (const b of m.barrier) {
      const c = b.linkChannel - FIRST_PROTOCOL_CHANNEL;
      if (c >= 0 && c < this.received.length && this.received[c] < b.count) return false;
    }
    return true;
  }

  private tryApply(): void {
    while (this.pending.length > 0 && this.ready(this.pending[0])) {
      const m = this.pending.shift()!;
      this.apply(m);
      const held = this.held;
      this.held = [];
      const next = this.pending[0];
      for (const h of held) {
        const limit = next && this.limitOf(next, h.channel);
        // counted already; re-hold only what is beyond the next barrier
        if (next && limit !== undefined && this.countBefore(h, held) >= limit) this.held.push(h);
        else this.deliver(h.channel, h.payload);
      }
    }
  }

  /** Position (count at arrival) of a held message: received minus the ones held after it on its channel. */
  private countBefore(h: { channel: number }, all: { channel: number }[]): number {
    let after = 0;
    let seen = false;
    for (const x of all) {
      if (x === h) seen = true;
      else if (seen && x.channel === h.channel) after++;
    }
    return this.received[h.channel] - after - 1;
  }
}
