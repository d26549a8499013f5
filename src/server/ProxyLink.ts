/**
 * One proxy's stream as a backend holds it: its players, its heartbeats, its own inbound queue
 * with a budget (flow control per link: a noisy proxy peer is slowed down, never a quiet one),
 * and its fence (the backend stops applying a link's input once the proxy may have given it
 * up). Used by {@link ProxiedSessions}.
 */
import { MuxHeartbeat } from '../session/MuxHeartbeat.js';
import type { MigrateOpen } from '../session/mux.js';
import type { LinkHello } from '../session/muxLinkHello.js';
import type { StreamConnection } from '../transport/stream/types.js';
import type { Clock } from '../util/Clock.js';
import type { ProxiedSession } from './ProxiedSessions.js';

/** Per-link inbound budget (see `ProxyListenOptions`). */
export interface ProxyLinkLimits {
  readonly maxQueuedFrames: number;
  readonly maxQueuedBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly timeoutMs: number;
}

/** One queued item of a link: a frame, or the verdict of a migrating player's ticket check. */
export interface QueuedFrame {
  readonly type: number;
  readonly sessionId: number;
  readonly payload: Uint8Array;
  /** A migrating player whose ticket was checked: open it (or refuse it) in the step. */
  readonly arrival?: { readonly m: MigrateOpen; readonly verdict: true | string };
}

/**
 * Bytes queued on the outgoing socket beyond which a frame handed to it does not count as
 * having reached the proxy (for the fence): a backed-up stream delivers late.
 */
const DELIVERED_BUFFER_BYTES = 1024 * 1024;

/** One proxy's stream, as the backend holds it. */
export class ProxyLink {
  readonly players = new Map<number, ProxiedSession>();
  /** Migrating players whose ticket is being verified: their MigrateOpen by session id. */
  readonly arriving = new Map<number, MigrateOpen>();
  readonly heartbeat: MuxHeartbeat;
  /** What the proxy announced (LinkHello), once it did. */
  hello?: LinkHello;
  /** The stream closed by itself (reason): handled once the frames before it are processed. */
  closedReason?: string;
  /** When a frame last left for the proxy (and was not stuck behind a backed-up stream). */
  lastSentAt: number;
  private queue: QueuedFrame[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    readonly connection: StreamConnection,
    readonly name: string,
    private readonly clock: Clock,
    private readonly limits: ProxyLinkLimits,
  ) {
    this.lastSentAt = clock.now();
    this.heartbeat = new MuxHeartbeat(
      clock,
      (type, payload) => this.sendFrame(type, 0, payload),
      limits.heartbeatIntervalMs,
      limits.timeoutMs,
    );
  }

  get streamRttMs(): number {
    return this.heartbeat.rttMs;
  }

  get maxPayload(): number {
    return this.connection.maxPayload;
  }

  /** Frames waiting to be processed. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Bytes of payload waiting to be processed. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** At or over its budget: its socket is to be paused. */
  get full(): boolean {
    return this.queued >= this.limits.maxQueuedFrames || this.bytes >= this.limits.maxQueuedBytes;
  }

  /** Down to half its budget: a paused socket may read again. */
  get drained(): boolean {
    return this.queued <= this.limits.maxQueuedFrames / 2 && this.bytes <= this.limits.maxQueuedBytes / 2;
  }

  sendFrame(type: number, sessionId: number, payload: Uint8Array): boolean {
    const ok = this.connection.sendFrame(type, sessionId, payload);
    if (ok && this.connection.bufferedBytes <= DELIVERED_BUFFER_BYTES) this.lastSentAt = this.clock.now();
    return ok;
  }

  /** Queue one item (never refused: the caller pauses the socket once {@link full}). */
  push(f: QueuedFrame): void {
    this.queue.push(f);
    this.bytes += f.payload.length;
  }

  /** The oldest queued item, taken off the queue. */
  shift(): QueuedFrame | undefined {
    if (this.head >= this.queue.length) return undefined;
    const f = this.queue[this.head++];
    this.bytes -= f.payload.length;
    // compact now and then so a long-lived link does not keep a consumed prefix
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    } else if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return f;
  }

  /** Forget everything queued (the link is gone). */
  clear(): void {
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** The proxy announced itself: ping often enough that it never sees a healthy backend silent. */
  setHello(hello: LinkHello): void {
    this.hello = hello;
    this.heartbeat.intervalMs = Math.max(
      1,
      Math.min(this.limits.heartbeatIntervalMs, Math.floor(this.fenceMs / 4)),
    );
  }

  /**
   * Silence towards the proxy after which this backend stops applying the link's input: the
   * proxy gives a backend up after `hello.timeoutMs` without a frame from it, and a frame it
   * got was sent after our last one, so while our last frame is younger than that the proxy
   * still routes the link's players here. A tenth of the timeout (≤ 100 ms) is kept in hand
   * for timer granularity. Without a LinkHello: our own timeout.
   */
  get fenceMs(): number {
    const t = this.hello?.timeoutMs;
    if (t === undefined) return this.limits.timeoutMs;
    return Math.max(1, t - Math.min(100, Math.floor(t / 10)));
  }

  /**
   * Why the link's input must not be applied any more, if so: the proxy may have given us up.
   * Checked before every frame: a process stopped in the middle of a batch (SIGSTOP, a long
   * pause) applies at most the frame it was on.
   */
  fenced(): string | undefined {
    const quiet = this.clock.now() - this.lastSentAt;
    if (quiet < this.fenceMs) return undefined;
    return `fenced: nothing reached the proxy for ${Math.round(quiet)} ms (it gives a backend up after ${this.hello?.timeoutMs ?? this.limits.timeoutMs} ms)`;
  }

  /** Why the link must end now, if it must: fenced, or the proxy was silent too long. */
  expired(): string | undefined {
    const fenced = this.fenced();
    if (fenced) return fenced;
    // a paused socket is our choice, not the proxy's silence
    if (this.connection.paused) this.heartbeat.heard();
    if (this.heartbeat.timedOut)
      return `heartbeat timeout: nothing from the proxy for ${this.heartbeat.silentForMs} ms`;
    return undefined;
  }
}
