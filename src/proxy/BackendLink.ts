import { MuxHeartbeat } from '../session/MuxHeartbeat.js';
import { MuxFrame } from '../session/mux.js';
import { encodeLinkHello } from '../session/muxLinkHello.js';
import { StreamRefusedError } from '../transport/stream/StreamRefusedError.js';
import type { StreamClientTransport, StreamConnection } from '../transport/stream/types.js';
import type { Clock } from '../util/Clock.js';
import type { BackendRecord } from './registry.js';

/** Where a backend link is. */
export type BackendLinkState = 'connecting' | 'up' | 'down';

/**
 * Why a link went down: `lost` (it was up: stream closed, heartbeats unanswered),
 * `unreachable` (could not connect), `refused` (the backend authenticated this proxy and
 * refused it with a reason: a configuration error, not a backend failure).
 */
export type BackendDownKind = 'lost' | 'unreachable' | 'refused';

/** Heartbeat settings of a link (the proxy's). */
export interface BackendLinkTiming {
  readonly heartbeatIntervalMs: number;
  readonly timeoutMs: number;
}

/**
 * The proxy's one stream to one backend, shared by every player routed there. Heartbeats run
 * on session 0; a stream that closes or stays silent past the timeout makes the link `down`.
 * Its first frame is a LinkHello (its fencing `epoch` and the heartbeat timeout), so the
 * backend stops applying its players' input before this proxy may give the backend up.
 */
export class BackendLink {
  state: BackendLinkState = 'connecting';
  connection?: StreamConnection;
  heartbeat?: MuxHeartbeat;
  /** Why the link went down. */
  downReason?: string;
  /** Proxy session ids of the players on this link. */
  readonly players = new Set<number>();
  /** Players migrating to this backend (not yet cut over), by proxy session id. */
  readonly migrating = new Map<number, { abort(reason: string): void }>();
  readonly ready: Promise<StreamConnection>;
  /** Resolves once the backend answered a first heartbeat (its game loop runs), or rejects like `ready`. */
  readonly answered: Promise<void>;
  framesIn = 0;
  framesOut = 0;
  refusedSends = 0;
  private onAnswered?: () => void;
  private answeredFail: (error: Error) => void = () => {};

  constructor(
    readonly backend: BackendRecord,
    dial: StreamClientTransport,
    private readonly clock: Clock,
    private readonly timing: BackendLinkTiming,
    /** Fencing epoch: this proxy's generation number of its link to this backend. */
    readonly epoch: number,
    onFrame: (link: BackendLink, type: number, sessionId: number, payload: Uint8Array) => void,
    onDown: (link: BackendLink, reason: string, kind: BackendDownKind) => void,
  ) {
    this.answered = new Promise<void>((resolve, reject) => {
      this.onAnswered = resolve;
      this.answeredFail = reject;
    });
    this.answered.catch(() => {});
    this.ready = dial.connect().then(
      (connection) => {
        if (this.state === 'down') {
          void connection.close('proxy gave up on this link');
          throw new Error(this.downReason ?? 'link closed');
        }
        this.connection = connection;
        this.state = 'up';
        this.heartbeat = new MuxHeartbeat(
          this.clock,
          (type, payload) => this.send(type, 0, payload),
          this.timing.heartbeatIntervalMs,
          this.timing.timeoutMs,
        );
        connection.onFrame = (type, sessionId, payload) => {
          this.framesIn++;
          this.heartbeat!.heard();
          if (sessionId === 0 && type === MuxFrame.Pong && this.onAnswered) {
            this.onAnswered();
            this.onAnswered = undefined;
          }
          onFrame(this, type, sessionId, payload);
        };
        connection.onClose = (reason) => {
          this.answeredFail(new Error(reason));
          onDown(this, `stream closed: ${reason}`, 'lost');
        };
        this.send(MuxFrame.LinkHello, 0, encodeLinkHello({ epoch: this.epoch, ...this.timing }));
        return connection;
      },
      (error: Error) => {
        const refused = error instanceof StreamRefusedError;
        const reason = refused
          ? `configuration error: backend ${backend.id} refused this proxy: ${error.reason}`
          : `cannot connect: ${error.message}`;
        this.answeredFail(new Error(reason));
        onDown(this, reason, refused ? 'refused' : 'unreachable');
        throw new Error(reason);
      },
    );
    // callers await `ready` themselves; an unobserved rejection must not crash the process
    this.ready.catch(() => {});
  }

  get id(): string {
    return this.backend.id;
  }

  get rttMs(): number {
    return this.heartbeat?.rttMs ?? 0;
  }

  /** Queue a frame; false if the link is not up or the stream refused it. */
  send(type: number, sessionId: number, payload: Uint8Array): boolean {
    const c = this.connection;
    if (this.state !== 'up' || !c) return false;
    if (!c.sendFrame(type, sessionId, payload)) {
      this.refusedSends++;
      return false;
    }
    this.framesOut++;
    return true;
  }

  /** Heartbeat step; returns a reason when the backend stopped answering. */
  maintain(): string | undefined {
    if (this.state !== 'up' || !this.heartbeat) return undefined;
    if (this.heartbeat.timedOut) return `no answer to heartbeats for ${this.heartbeat.silentForMs} ms`;
    this.heartbeat.tick();
    return undefined;
  }

  /** Mark down and close the stream (idempotent). */
  shutdown(reason: string): Promise<void> {
    if (this.state !== 'down') {
      this.state = 'down';
      this.downReason = reason;
    }
    this.answeredFail(new Error(reason));
    return this.connection?.close(reason) ?? Promise.resolve();
  }
}
