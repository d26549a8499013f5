/**
 * Layer 1 contracts: moving opaque datagrams. Implementations: UDP (`node:dgram`), WebSocket
 * (`ws` in Node, the global `WebSocket` in browsers) and the in-memory hub with its seeded
 * link conditioner. Upper layers only ever see these interfaces.
 */

/** Where a server listens, as resolved after binding (port 0 becomes the real port). */
export interface TransportAddress {
  readonly transport: 'udp' | 'websocket' | 'memory';
  readonly host: string;
  readonly port: number;
  /** WebSocket only: the URL a client connects to. */
  readonly url?: string;
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
  /** Fire and forget: never throws for an unknown or closed peer. */
  send(peer: PeerId, data: Uint8Array): void;
  /** Drop transport state for a peer (WebSocket: close that socket). No-op for UDP. */
  disconnectPeer(peer: PeerId): void;
  close(): Promise<void>;
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
  send(data: Uint8Array): void;
  close(): Promise<void>;
}

/** A factory that opens a client socket: `udpClient(addr)`, `websocketClient(addr)`, `hub.client(addr)`. */
export interface DatagramClientTransport {
  readonly kind: TransportAddress['transport'];
  connect(): Promise<DatagramClientSocket>;
}
