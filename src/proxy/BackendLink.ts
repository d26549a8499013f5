import { MuxHeartbeat } from '../session/MuxHeartbeat.js';
import type { StreamClientTransport, StreamConnection } from '../transport/stream/types.js';
import type { Clock } from '../util/Clock.js';
import type { BackendRecord } from './registry.js';

/** Where a backend link is. */
export type BackendLinkState = 'connecting' | 'up' | 'down';

/**
 * The proxy's one stream to one backend, shared by every player routed there. Heartbeats run
 * on session 0; a stream that closes or stays silent past the timeout makes the link `down`.
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
  framesIn = 0;
  framesOut = 0;
  refusedSends = 0;

  constructor(
    readonly backend: BackendRecord,
    dial: StreamClientTransport,
    private readonly clock: Clock,
    private readonly heartbeatIntervalMs: number,
    private readonly timeoutMs: number,
    onFrame: (link: BackendLink, type: number, sessionId: number, payload: Uint8Array) => void,
    onDown: (link: BackendLink, reason: string) => void,
  ) {
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
          this.heartbeatIntervalMs,
          this.timeoutMs,
        );
        connection.onFrame = (type, sessionId, payload) => {
          this.framesIn++;
          this.heartbeat!.heard();
          onFrame(this, type, sessionId, payload);
        };
        connection.onClose = (reason) => onDown(this, `stream closed: ${reason}`);
        return connection;
      },
      (error: Error) => {
        const reason = `cannot connect: ${error.message}`;
        onDown(this, reason);
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
    return this.connection?.close(reason) ?? Promise.resolve();
  }
}
