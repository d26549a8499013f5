/**
 * Layer 1 contracts: moving opaque datagrams. Implementations: UDP (`node:dgram`), WebSocket
 * (`ws` in Node, the global `WebSocket` in browsers) and the in-memory hub with its seeded
 * link conditioner. Upper layers only ever see these interfaces.
 */

/** Where a server listens, as resolved after binding (port 0 becomes the real port). */
export interface TransportAddress {
  readonly transport: 'udp' | 'websocket' | 'webrtc' | 'memory';
  readonly host: string;
  readonly port: number;
  /** WebSocket and WebRTC (its signalling WebSocket): the URL a client connects to. */
  readonly url?: string;
}

/**
 * Counters a transport keeps about itself, for metrics and tests. Every datagram a transport
 * refuses or cannot deliver is counted here instead of throwing.
 */
export interface TransportStats {
  /** Datagrams handed to the OS / peer (after size and backpressure checks). */
  datagramsSent: number;
  /** Datagrams passed to `onDatagram`. */
  datagramsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** `send` with a datagram larger than `maxDatagramSize`: dropped, not sent. */
  droppedOversize: number;
  /** `send` while the outgoing buffer was over its bound (WebSocket): dropped. */
  droppedBackpressure: number;
  /** `send` to an unknown/closed peer or on a closed socket: dropped. */
  droppedUnroutable: number;
  /** Received frames that are not datagrams (WebSocket text frames): ignored. */
  droppedInvalid: number;
  /** Socket-level errors that were absorbed (send failures, ICMP errors, protocol errors). */
  errors: number;
}

/** Opaque, stable key for one remote peer of a server socket ("127.0.0.1:5000", "ws#12", …). */
export type PeerId = string;

/** The bound, server side of a datagram transport. */
export interface DatagramServerSocket {
  readonly address: TransportAddress;
  /** Largest datagram this transport carries without loss from size alone. */
  readonly maxDatagramSize: number;
  /** Called for each datagram received. Set by the owner before traffic flows. */
  onDatagram: (peer: PeerId, data: Uint8Array) => void;
  /** Connection-oriented transports (WebSocket) report a peer that went away. */
  onPeerClosed: (peer: PeerId) => void;
  /**
   * Fire and forget: never throws for an unknown or closed peer. The bytes are copied (or
   * fully consumed) before `send` returns, so the caller may reuse `data` at once.
   */
  send(peer: PeerId, data: Uint8Array): void;
  /** Drop transport state for a peer (WebSocket: close that socket). No-op for UDP. */
  disconnectPeer(peer: PeerId): void;
  /** Resolves once the socket is closed and its port released. Idempotent. */
  close(): Promise<void>;
  /** Counters (optional in the contract; every built-in transport has them). */
  readonly stats?: Readonly<TransportStats>;
}

/** A factory that binds a server socket: `udpServer({ port: 0 })`, `websocketServer(…)`, `hub.server()`. */
export interface DatagramServerTransport {
  readonly kind: TransportAddress['transport'];
  listen(): Promise<DatagramServerSocket>;
}

/** The client side of a datagram transport, connected to one server. */
export interface DatagramClientSocket {
  readonly maxDatagramSize: number;
  onDatagram: (data: Uint8Array) => void;
  /** The transport itself closed (WebSocket closed, socket error). Not called after `close()`. */
  onClosed: (reason: string) => void;
  /** Fire and forget, never throws; `data` may be reused by the caller once this returns. */
  send(data: Uint8Array): void;
  /** Resolves once the socket is closed. Idempotent. */
  close(): Promise<void>;
  /** Counters (optional in the contract; every built-in transport has them). */
  readonly stats?: Readonly<TransportStats>;
}

/** A factory that opens a client socket: `udpClient(addr)`, `websocketClient(addr)`, `hub.client(addr)`. */
export interface DatagramClientTransport {
  readonly kind: TransportAddress['transport'];
  connect(): Promise<DatagramClientSocket>;
}
