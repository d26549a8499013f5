/**
 * Layer 1 contracts for **streams**: an ordered, reliable byte stream between two processes
 * (proxy ↔ backend) carrying frames `[u32 length][u32 type][u32 sessionId][payload]`
 * (docs/wire/stream.md). Implementations: TLS with mutual authentication (`node:tls`) and an
 * in-memory pair for tests. Upper layers (the session layer's `MuxPipe`, the proxy) only see
 * these interfaces.
 */

/** Where a stream server listens, as resolved after binding (port 0 becomes the real port). */
export interface StreamAddress {
  readonly transport: 'tls' | 'memory';
  readonly host: string;
  readonly port: number;
}

/**
 * Who is at the other end, from its certificate (TLS) or as configured (memory). A backend
 * uses it to tell which proxy connected; a proxy to check which backend answered.
 */
export interface StreamPeerIdentity {
  /** Subject fields, e.g. `{ CN: 'proxy-1', O: 'baton' }` (a repeated field keeps its first value). */
  readonly subject: Readonly<Record<string, string>>;
  /** The subject's common name (`subject.CN`), if present. */
  readonly commonName: string | undefined;
  /** Issuer's common name, if present. */
  readonly issuerCommonName: string | undefined;
  /** SHA-256 fingerprint of the DER certificate, upper-case hex with colons (Node's format). */
  readonly fingerprint256: string;
  /** Certificate serial number, upper-case hex. */
  readonly serialNumber: string;
  /** Validity end, as printed by Node (`'Jan  1 00:00:00 2030 GMT'`). */
  readonly validTo: string;
}

/**
 * Counters of one connection. Every refusal and every protocol violation by the peer is
 * counted here; none of them throws.
 */
export interface StreamStats {
  /** Frames handed to the socket by `sendFrame` (control frames not included). */
  framesSent: number;
  /** Frames passed to `onFrame` (control frames not included). */
  framesReceived: number;
  /** Bytes written to / read from the stream, headers and control frames included. */
  bytesSent: number;
  bytesReceived: number;
  /** `sendFrame` refused because `bufferedBytes` would pass `maxBufferedBytes`. */
  refusedBackpressure: number;
  /** `sendFrame` refused because the connection is closing or closed. */
  refusedClosed: number;
  /** The peer announced a payload longer than `maxPayload`: connection closed. */
  closedOversize: number;
  /** The peer sent something that is not a valid frame (reserved type misuse, bad control frame): connection closed. */
  closedInvalid: number;
  /** Socket errors absorbed (resets, TLS alerts after the handshake, write failures). */
  errors: number;
  /** `onFrame` / `onClose` / `onDrain` handlers that threw (caught and reported, never fatal). */
  handlerErrors: number;
}

/** Called for every frame received, in stream order. `payload` is not reused by the transport; do not mutate it. */
export type StreamFrameHandler = (type: number, sessionId: number, payload: Uint8Array) => void;

/**
 * One end of a framed stream.
 *
 * **Sending.** `sendFrame` copies the payload (the caller may reuse it at once) and queues the
 * frame. It returns `false` — the frame is *not* queued, and a counter is bumped — when the
 * connection is closing/closed, or when queueing it would take `bufferedBytes` past
 * `maxBufferedBytes` (a frame is always accepted when nothing is buffered, so one frame up to
 * `maxPayload` can always go). After a backpressure refusal, `onDrain` fires once the buffer
 * has fallen to half the cap. It throws `EncodeError` (serde) only for caller bugs: a type or
 * session id that is not a u32, a reserved type (≥ `FRAME_TYPE_RESERVED_MIN`), or a payload
 * longer than `maxPayload`.
 *
 * **Receiving.** Reading starts as soon as the connection exists; frames that arrive before
 * `onFrame` is set are held (the socket is paused meanwhile, so TCP flow control bounds
 * them) and delivered in order once it is set.
 *
 * **Flow control.** `pause()` stops handing frames to `onFrame` and stops reading the
 * underlying stream (TCP flow control then slows the peer down); frames already read are held,
 * at most one read's worth, and come first after `resume()` (on a microtask). A peer that closes
 * meanwhile is reported after them. Nothing is dropped.
 *
 * **Closing.** `onClose(reason)` is called exactly once when the connection ends for any reason
 * other than the owner's own `close()`: the peer closed (`'peer closed: <its reason>'` or
 * `'peer closed'`), a socket error (`'connection error: <code>'`), or a protocol violation by
 * the peer (`'protocol error: …'`, counted in `stats`). On a protocol violation the transport
 * tells the peer why (a CLOSE control frame) and closes; it never throws and never buffers more
 * than one frame.
 */
export interface StreamConnection {
  /** Stable label for logs ("tls#3", "mem#1a"). */
  readonly id: string;
  /** The peer's certificate identity (TLS), the configured one (memory), or undefined. */
  readonly peer: StreamPeerIdentity | undefined;
  /** Remote address as seen by the socket ("127.0.0.1:53122"), or a memory label. */
  readonly remoteAddress: string;
  /** Largest payload sent or accepted. */
  readonly maxPayload: number;
  /** Outgoing bytes accepted by `sendFrame` but not yet handed to the OS/peer. */
  readonly bufferedBytes: number;
  /** Cap on `bufferedBytes` beyond which `sendFrame` returns false. */
  readonly maxBufferedBytes: number;
  /** False once closing or closed, by either side. */
  readonly isOpen: boolean;
  onFrame: StreamFrameHandler;
  onClose: (reason: string) => void;
  /** Called after a backpressure refusal once there is room again. */
  onDrain: () => void;
  /** True between `pause()` and `resume()`. */
  readonly paused: boolean;
  /** Stop delivering frames and reading the stream (flow control by the owner). Idempotent. */
  pause(): void;
  /** Deliver held frames, then read again. Idempotent. */
  resume(): void;
  /** Queue one frame; see the interface notes for when it returns false or throws. */
  sendFrame(type: number, sessionId: number, payload: Uint8Array): boolean;
  /**
   * Tell the peer `reason` (a CLOSE frame after every frame already queued), then close.
   * Resolves when the underlying stream is gone. Idempotent; `onClose` is not called.
   */
  close(reason?: string): Promise<void>;
  readonly stats: Readonly<StreamStats>;
}

/** Counters of a stream server. */
export interface StreamServerStats {
  /** Connections handed to `onConnection`. */
  connectionsAccepted: number;
  /** Handshakes that failed: bad/missing/expired/unknown client certificate, plain TCP, timeouts. */
  handshakeFailures: number;
  /** Authenticated connections refused afterwards (by `authorize` or `maxConnections`). */
  connectionsRefused: number;
  /** Connections closed because their peer violated the frame protocol (sum over connections). */
  protocolErrors: number;
}

/** The bound, accepting side of a stream transport. */
export interface StreamServer {
  readonly address: StreamAddress;
  /** Called for every accepted (authenticated) connection. Set it before connections arrive. */
  onConnection: (connection: StreamConnection) => void;
  /**
   * The owner's check of an authenticated peer, run before the connection is accepted (before
   * READY on TLS), after the transport's own `authorize` option: `true` accepts, a string
   * refuses with that reason (the client's `connect()` rejects with a `StreamRefusedError`
   * carrying it). A throwing hook refuses.
   */
  authorize?: (peer: StreamPeerIdentity | undefined) => true | string;
  /** Open connections. */
  readonly connections: ReadonlySet<StreamConnection>;
  /** Stop listening, close every connection (no `onClose` for them), resolve when all are gone. Idempotent. */
  close(): Promise<void>;
  readonly stats: Readonly<StreamServerStats>;
}

/** A factory that binds a stream server: `tlsStreamServer(…)`, `network.server()`. */
export interface StreamServerTransport {
  readonly kind: StreamAddress['transport'];
  listen(): Promise<StreamServer>;
}

/** A factory that opens a client connection: `tlsStreamClient(…)`, `network.client(address)`. */
export interface StreamClientTransport {
  readonly kind: StreamAddress['transport'];
  /**
   * Resolves once the peer accepted the connection; rejects with the reason otherwise — a
   * `StreamRefusedError` when the server authenticated us and refused with a reason.
   */
  connect(): Promise<StreamConnection>;
}
