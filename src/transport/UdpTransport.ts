/**
 * UDP datagram transport over `node:dgram` (Node only). Adds nothing on the wire: one
 * transport datagram is one UDP payload. Peers are keyed "host:port" ("[v6]:port" for IPv6).
 *
 * `maxDatagramSize` is 65507, the largest UDP payload over IPv4; real paths fragment at IP
 * level above ~1472 bytes, so the link layer keeps its own, smaller MTU.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ClientSocketBase } from './ClientSocketBase.js';
import { createTransportStats } from './stats.js';
import type {
  DatagramClientSocket,
  DatagramClientTransport,
  DatagramServerSocket,
  DatagramServerTransport,
  PeerId,
  TransportAddress,
  TransportStats,
} from './types.js';

/** Largest UDP payload over IPv4 (65535 − 8 UDP header − 20 IP header). */
export const UDP_MAX_DATAGRAM = 65507;

/** Options of `udpServer`. */
export interface UdpServerOptions {
  /** Interface to bind. Default '127.0.0.1' (use '0.0.0.0' / '::' to accept remote players). */
  host?: string;
  /** Port to bind; 0 (default) lets the OS pick one. */
  port?: number;
  /** SO_RCVBUF in bytes (the OS may cap it). Default: the OS default. */
  recvBufferSize?: number;
  /** SO_SNDBUF in bytes (the OS may cap it). Default: the OS default. */
  sendBufferSize?: number;
}

/** Options of `udpClient`. */
export interface UdpClientOptions {
  recvBufferSize?: number;
  sendBufferSize?: number;
}

const noop = () => {};
/** Bound on a server socket's cache of parsed peer addresses. */
const MAX_CACHED_TARGETS = 65536;

/** Formats a peer key; IPv6 literals are bracketed so the last ':' always starts the port. */
export function formatUdpPeer(host: string, port: number): PeerId {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a peer key made by `formatUdpPeer`; undefined when it is not one. */
export function parseUdpPeer(peer: PeerId): { host: string; port: number } | undefined {
  const colon = peer.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = peer.slice(0, colon);
  const portText = peer.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return host.length > 0 ? { host, port } : undefined;
}

function socketType(host: string): 'udp4' | 'udp6' {
  return isIPv6(host) ? 'udp6' : 'udp4';
}

/** Views a received Buffer as a plain Uint8Array (Buffer's `slice` shares memory; avoid surprises). */
function asPlainBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function applyBufferSizes(socket: dgram.Socket, o: UdpClientOptions, stats: TransportStats): void {
  try {
    if (o.recvBufferSize !== undefined) socket.setRecvBufferSize(o.recvBufferSize);
    if (o.sendBufferSize !== undefined) socket.setSendBufferSize(o.sendBufferSize);
  } catch {
    // Buffer sizes are a tuning hint; an OS refusing them must not fail the bind.
    stats.errors++;
  }
}

/** Binds `socket` and resolves once it listens; rejects with the bind error. */
function bindSocket(socket: dgram.Socket, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      socket.off('listening', onListening);
      try {
        socket.close();
      } catch {
        // already closed
      }
      reject(error);
    };
    const onListening = () => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind(port, host);
  });
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

class UdpServerSocket implements DatagramServerSocket {
  readonly maxDatagramSize = UDP_MAX_DATAGRAM;
  onDatagram: (peer: PeerId, data: Uint8Array) => void = noop;
  /** UDP has no connections: never called. */
  onPeerClosed: (peer: PeerId) => void = noop;
  readonly stats: TransportStats;
  private open = true;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly socket: dgram.Socket,
    readonly address: TransportAddress,
    stats: TransportStats,
  ) {
    this.stats = stats;
    socket.on('message', (msg, rinfo) => {
      if (!this.open) return;
      this.stats.datagramsReceived++;
      this.stats.bytesReceived += msg.byteLength;
      // rinfo.family says what formatUdpPeer would find out by parsing the address
      const peer =
        rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
      this.onDatagram(peer, asPlainBytes(msg));
    });
    // ICMP errors and the like: UDP is best effort, the link layer handles silence.
    socket.on('error', () => {
      this.stats.errors++;
    });
  }

  send(peer: PeerId, data: Uint8Array): void {
    if (!this.open) {
      this.stats.droppedUnroutable++;
      return;
    }
    const target = this.targetOf(peer);
    if (!target) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    try {
      // Copy: dgram keeps a reference until the send completes, and the caller may reuse `data`.
      this.inFlight++;
      this.socket.send(Buffer.from(data), target.port, target.host, (error) => {
        if (error) this.stats.errors++;
        if (--this.inFlight === 0) this.onSent?.();
      });
      this.stats.datagramsSent++;
      this.stats.bytesSent += data.byteLength;
    } catch {
      this.stats.errors++;
    }
  }

  /** Forgets the peer's parsed address. */
  disconnectPeer(peer: PeerId): void {
    this.targets.delete(peer);
  }

  /**
   * Parsed peer addresses, so a send does not re-parse the key every datagram. Bounded: it is
   * simply dropped when full (peers are forgotten by `disconnectPeer`, but a server may send to
   * peers it never held a session for).
   */
  private readonly targets = new Map<PeerId, { host: string; port: number }>();

  private targetOf(peer: PeerId): { host: string; port: number } | undefined {
    let target = this.targets.get(peer);
    if (target !== undefined) return target;
    target = parseUdpPeer(peer);
    if (target === undefined) return undefined;
    if (this.targets.size >= MAX_CACHED_TARGETS) this.targets.clear();
    this.targets.set(peer, target);
    return target;
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.open = false;
      this.closing = this.sent().then(() => closeSocket(this.socket));
    }
    return this.closing;
  }

  /** Sends still in dgram's hands (an address send resolves the host first, a tick later). */
  private inFlight = 0;
  private onSent?: () => void;

  /**
   * Until the sends already made have left (bounded): closing at once would cancel them, and
   * the last ones are typically the Disconnect packets telling peers why.
   */
  private sent(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, CLOSE_FLUSH_MS);
      this.onSent = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Longest wait in `close()` for sends already made to leave, ms. */
const CLOSE_FLUSH_MS = 500;

class UdpClientSocket extends ClientSocketBase {
  readonly maxDatagramSize = UDP_MAX_DATAGRAM;
  private closing: Promise<void> | undefined;

  constructor(private readonly socket: dgram.Socket) {
    super();
    socket.on('message', (msg) => this.receive(asPlainBytes(msg)));
    // A connected UDP socket reports ICMP "port unreachable" as ECONNREFUSED: the server may
    // just not be up yet, so it is counted, not fatal. The link layer's timeout decides.
    socket.on('error', () => {
      this.stats.errors++;
    });
    socket.on('close', () => this.closedByTransport('udp socket closed'));
  }

  send(data: Uint8Array): void {
    if (!this.isOpen) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    try {
      this.socket.send(Buffer.from(data), (error) => {
        if (error) this.stats.errors++;
      });
      this.stats.datagramsSent++;
      this.stats.bytesSent += data.byteLength;
    } catch {
      this.stats.errors++;
    }
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.markClosedByOwner();
      this.closing = closeSocket(this.socket);
    }
    return this.closing;
  }
}

/**
 * A UDP server transport: `await udpServer({ port: 0 }).listen()` binds 127.0.0.1 on a free
 * port; `socket.address.port` is the real port.
 */
export function udpServer(options: UdpServerOptions = {}): DatagramServerTransport {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  return {
    kind: 'udp',
    async listen(): Promise<DatagramServerSocket> {
      const socket = dgram.createSocket({ type: socketType(host) });
      const stats = createTransportStats();
      await bindSocket(socket, port, host);
      applyBufferSizes(socket, options, stats);
      const bound = socket.address();
      return new UdpServerSocket(socket, { transport: 'udp', host: bound.address, port: bound.port }, stats);
    },
  };
}

/**
 * A UDP client transport for one server, given as a `TransportAddress`, `{ host, port }` or
 * "host:port". `connect()` binds an ephemeral port and connects the socket to the server, so
 * only the server's datagrams are received.
 */
export function udpClient(
  address: TransportAddress | { host: string; port: number } | string,
  options: UdpClientOptions = {},
): DatagramClientTransport {
  const target =
    typeof address === 'string' ? parseUdpPeer(address) : { host: address.host, port: address.port };
  return {
    kind: 'udp',
    async connect(): Promise<DatagramClientSocket> {
      if (!target) throw new TypeError(`udpClient: not a "host:port" address: ${String(address)}`);
      const socket = dgram.createSocket({ type: socketType(target.host) });
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          try {
            socket.close();
          } catch {
            // already closed
          }
          reject(error);
        };
        socket.once('error', onError);
        socket.connect(target.port, target.host, () => {
          socket.off('error', onError);
          resolve();
        });
      });
      const client = new UdpClientSocket(socket);
      applyBufferSizes(socket, options, client.stats);
      return client;
    },
  };
}
