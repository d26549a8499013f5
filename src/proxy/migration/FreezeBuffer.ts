import type { SessionPacket } from '../../session/packets/types.js';

/** One client → backend item held while a player is frozen (in arrival order). */
export type ClientItem =
  | {
      readonly kind: 'message';
      readonly channel: number;
      readonly payload: Uint8Array;
      readonly tick?: number;
    }
  | { readonly kind: 'world'; readonly frame: Uint8Array }
  | { readonly kind: 'control'; readonly packet: SessionPacket };

/** Bounds of the freeze buffers. */
export interface FreezeBounds {
  /** Most items per player (default 4096). */
  maxFrames: number;
  /** Most bytes per player (default 1 MiB). */
  maxBytes: number;
}

/** Bytes held by every frozen player of one proxy (the global cap). */
export class GlobalBufferBudget {
  bytes = 0;
  peakBytes = 0;
  constructor(readonly maxBytes: number) {}
}

function sizeOf(item: ClientItem): number {
  if (item.kind === 'message') return item.payload.length + 6;
  if (item.kind === 'world') return item.frame.length;
  return 16;
}

/**
 * A frozen player's input, in the order the client sent it (DESIGN §5 "Freeze"): bounded by
 * count and bytes per player and by a budget shared by the proxy. `push` always keeps the item
 * (nothing is ever dropped here) and returns the bound it crossed, so the caller aborts the
 * migration and rolls back — the buffer then goes to the source backend, whole and in order.
 */
export class FreezeBuffer {
  readonly items: ClientItem[] = [];
  bytes = 0;

  constructor(
    private readonly bounds: FreezeBounds,
    private readonly global: GlobalBufferBudget,
  ) {}

  /** Keep `item`; returns undefined, or which bound is now exceeded. */
  push(item: ClientItem): string | undefined {
    const n = sizeOf(item);
    this.items.push(item);
    this.bytes += n;
    this.global.bytes += n;
    if (this.global.bytes > this.global.peakBytes) this.global.peakBytes = this.global.bytes;
    if (this.items.length > this.bounds.maxFrames)
      return `buffer bound exceeded: more than ${this.bounds.maxFrames} frames`;
    if (this.bytes > this.bounds.maxBytes)
      return `buffer bound exceeded: more than ${this.bounds.maxBytes} bytes`;
    if (this.global.bytes > this.global.maxBytes)
      return `buffer bound exceeded: proxy-wide cap of ${this.global.maxBytes} bytes`;
    return undefined;
  }

  /** Hand every item over (in order) and give the bytes back to the global budget. */
  release(): ClientItem[] {
    // a second call finds nothing held and gives back 0 bytes
    this.global.bytes -= this.bytes;
    this.bytes = 0;
    return this.items.splice(0);
  }
}
