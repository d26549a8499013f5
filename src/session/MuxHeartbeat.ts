import type { Clock } from '../util/Clock.js';
import { decodeU32, encodeU32, MuxFrame } from './mux.js';

/**
 * Link-level heartbeats of a mux stream (session id 0): each side sends Ping every
 * `intervalMs` and answers the peer's Ping with Pong. From the Pongs it keeps a smoothed
 * round-trip estimate of the stream (RFC 6298 style, α = 1/8), and it reports the peer as
 * silent when nothing (any frame) arrived for `timeoutMs`.
 */
export class MuxHeartbeat {
  /** Smoothed stream RTT, ms (0 until the first Pong). */
  rttMs = 0;
  private seq = 0;
  private readonly outstanding = new Map<number, number>();
  private nextPingAt: number;
  private lastPingAt = Number.NEGATIVE_INFINITY;
  private lastHeard: number;

  constructor(
    private readonly clock: Clock,
    private readonly send: (type: number, payload: Uint8Array) => void,
    /** Ping interval, ms; an owner may shorten it (e.g. to ping well within the peer's timeout). */
    public intervalMs = 1000,
    readonly timeoutMs = 5000,
  ) {
    const now = clock.now();
    this.nextPingAt = now;
    this.lastHeard = now;
  }

  /** Any frame from the peer proves it alive. */
  heard(): void {
    this.lastHeard = this.clock.now();
  }

  /** Ms since anything arrived from the peer. */
  get silentForMs(): number {
    return this.clock.now() - this.lastHeard;
  }

  get timedOut(): boolean {
    return this.silentForMs >= this.timeoutMs;
  }

  /** Send a Ping when one is due. */
  tick(): void {
    const now = this.clock.now();
    // an interval shortened meanwhile takes effect at once
    this.nextPingAt = Math.min(this.nextPingAt, this.lastPingAt + this.intervalMs);
    if (now < this.nextPingAt) return;
    this.lastPingAt = now;
    this.nextPingAt = now + this.intervalMs;
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    this.outstanding.set(seq, now);
    // a silent peer must not grow this map: only the recent pings can still be answered usefully
    if (this.outstanding.size > 16) this.outstanding.delete(this.outstanding.keys().next().value!);
    this.send(MuxFrame.Ping, encodeU32(seq));
  }

  /**
   * Handle a session-0 Ping/Pong. Returns false for another frame type. Throws DecodeError for
   * a malformed payload.
   */
  handle(type: number, payload: Uint8Array): boolean {
    if (type === MuxFrame.Ping) {
      decodeU32(payload);
      this.send(MuxFrame.Pong, payload);
      return true;
    }
    if (type === MuxFrame.Pong) {
      const seq = decodeU32(payload);
      const sentAt = this.outstanding.get(seq);
      if (sentAt !== undefined) {
        this.outstanding.delete(seq);
        const sample = Math.max(0, this.clock.now() - sentAt);
        this.rttMs = this.rttMs === 0 ? sample : this.rttMs + (sample - this.rttMs) / 8;
      }
      return true;
    }
    return false;
  }
}
