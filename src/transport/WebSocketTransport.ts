/**
 * WebSocket datagram transport for Node, over the `ws` package. One datagram is one binary
 * WebSocket message; text messages are counted and ignored. Compression is off (datagrams are
 * small and already compact; deflate would cost CPU and memory per socket).
 *
 * WebSocket runs over TCP, so "datagrams" here are in fact reliable and ordered; the link
 * layer above works the same either way. A slow peer cannot grow memory without bound:
 * once a socket has `maxBufferedBytes` queued, further datagrams are dropped and counted.
 */
import WebSocket, { type RawData, WebSocketServer } from 'ws';
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
import {
  describeClose,
  resolveWebSocketUrl,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_NORMAL,
  WS_DEFAULT_CLOSE_GRACE_MS,
  WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
  WS_DEFAULT_MAX_BUFFERED,
  WS_DEFAULT_MAX_PAYLOAD,
  websocketUrl,
} from './wsCommon.js';

/** Options of `websocketServer`. */
export interface WebSocketServerOptions {
  /** Interface to bind. Default '127.0.0.1'. */
  host?: string;
  /** Port; 0 (default) lets the OS pick one. */
  port?: number;
  /** Only accept upgrades on this path (e.g. '/baton'). Default: any path; the URL uses '/'. */
  path?: string;
  /** Largest message accepted; a bigger one closes that socket with 1009. Default 64 KiB. */
  maxPayload?: number;
  /** Per-socket send queue bound in bytes before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Most simultaneous peers; extra connections are closed with 1013. Default unlimited. */
  maxPeers?: number;
  /** How long `close()` waits for closing handshakes before cutting sockets. Default 1000 ms. */
  closeGraceMs?: number;
}

/** Options of `websocketClient`. */
export interface WebSocketClientOptions {
  /** Largest message accepted from the server. Default 64 KiB. */
  maxPayload?: number;
  /** Send queue bound in bytes before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Opening handshake timeout. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits for the closing handshake. Default 1000 ms. */
  closeGraceMs?: number;
}

const noop = () => {};

/** Flattens what `ws` delivers into one plain Uint8Array (no copy when it is a single Buffer). */
function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) {
    const joined = Buffer.concat(data);
    return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Closes `ws` with a handshake, cutting it after `graceMs` if the peer does not answer;
 * resolves when the socket is closed.
 */
function closeWithGrace(ws: WebSocket, code: number, reason: string, graceMs: number): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    } catch {
      ws.terminate();
    }
  });
}

class WebSocketServerSocket implements DatagramServerSocket {
  readonly maxDatagramSize: number;
  onDatagram: (peer: PeerId, data: Uint8Array) => void = noop;
  onPeerClosed: (peer: PeerId) => void = noop;
  readonly stats: TransportStats = createTransportStats();
  private readonly peers = new Map<PeerId, WebSocket>();
  private nextPeer = 0;
  private open = true;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly wss: WebSocketServer,
    readonly address: TransportAddress,
    private readonly options: Required<Pick<WebSocketServerOptions, 'maxBufferedBytes' | 'closeGraceMs'>> & {
      maxPayload: number;
      maxPeers: number;
    },
  ) {
    this.maxDatagramSize = options.maxPayload;
    wss.on('connection', (ws) => this.accept(ws));
    wss.on('error', () => {
      this.stats.errors++;
    });
  }

  private accept(ws: WebSocket): void {
    // Without an 'error' listener a protocol error from a peer would be an uncaught exception.
    ws.on('error', () => {
      this.stats.errors++;
    });
    if (!this.open) {
      ws.terminate();
      return;
    }
    if (this.peers.size >= this.options.maxPeers) {
      ws.close(1013, 'server full');
      return;
    }
    const peer: PeerId = `ws#${++this.nextPeer}`;
    this.peers.set(peer, ws);
    ws.on('message', (data, isBinary) => {
      if (!this.open || this.peers.get(peer) !== ws) return;
      if (!isBinary) {
        this.stats.droppedInvalid++;
        return;
      }
      const bytes = toBytes(data);
      this.stats.datagramsReceived++;
      this.stats.bytesReceived += bytes.byteLength;
      this.onDatagram(peer, bytes);
    });
    ws.on('close', () => {
      // Only a peer that went away by itself is reported, not one we disconnected or a shutdown.
      if (this.peers.get(peer) !== ws) return;
      this.peers.delete(peer);
      if (this.open) this.onPeerClosed(peer);
    });
  }

  /** Number of connected peers. */
  get peerCount(): number {
    return this.peers.size;
  }

  send(peer: PeerId, data: Uint8Array): void {
    const ws = this.peers.get(peer);
    if (!this.open || !ws || ws.readyState !== WebSocket.OPEN) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    if (ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.stats.droppedBackpressure++;
      return;
    }
    // Copy: an unmasked server frame may sit in the socket's write queue after send returns.
    ws.send(Buffer.from(data), { binary: true }, (error) => {
      if (error) this.stats.errors++;
    });
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.byteLength;
  }

  /** Closes that peer's socket (1000). `onPeerClosed` is not called for it. */
  disconnectPeer(peer: PeerId): void {
    const ws = this.peers.get(peer);
    if (!ws) return;
    this.peers.delete(peer);
    void closeWithGrace(ws, WS_CLOSE_NORMAL, 'disconnected', this.options.closeGraceMs);
  }

  /** Stops listening (the port is free at once), closes every peer, resolves when all are gone. */
  close(): Promise<void> {
    if (!this.closing) {
      this.open = false;
      const sockets = [...this.peers.values()];
      this.peers.clear();
      const serverClosed = new Promise<void>((resolve) => this.wss.close(() => resolve()));
      const socketsClosed = sockets.map((ws) =>
        closeWithGrace(ws, WS_CLOSE_GOING_AWAY, 'server closing', this.options.closeGraceMs),
      );
      this.closing = Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
    }
    return this.closing;
  }
}

class WebSocketClientSocket extends ClientSocketBase {
  readonly maxDatagramSize: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: { maxPayload: number; maxBufferedBytes: number; closeGraceMs: number },
  ) {
    super();
    this.maxDatagramSize = options.maxPayload;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.stats.droppedInvalid++;
        return;
      }
      this.receive(toBytes(data));
    });
    ws.on('close', (code, reason) => this.closedByTransport(describeClose(code, reason.toString())));
  }

  send(data: Uint8Array): void {
    if (!this.isOpen || this.ws.readyState !== WebSocket.OPEN) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    if (this.ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.stats.droppedBackpressure++;
      return;
    }
    // Copy: client frames are masked in place when `ws` owns the buffer.
    this.ws.send(Buffer.from(data), { binary: true }, (error) => {
      if (error) this.stats.errors++;
    });
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.byteLength;
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.markClosedByOwner();
      this.closing = closeWithGrace(this.ws, WS_CLOSE_NORMAL, '', this.options.closeGraceMs);
    }
    return this.closing;
  }
}

/**
 * A WebSocket server transport (Node). `listen()` resolves once bound; the address carries
 * `url` (`ws://127.0.0.1:PORT/path`). Peers are "ws#1", "ws#2", … in connection order.
 */
export function websocketServer(options: WebSocketServerOptions = {}): DatagramServerTransport {
  const host = options.host ?? '127.0.0.1';
  const settings = {
    maxPayload: options.maxPayload ?? WS_DEFAULT_MAX_PAYLOAD,
    maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
    maxPeers: options.maxPeers ?? Number.POSITIVE_INFINITY,
    closeGraceMs: options.closeGraceMs ?? WS_DEFAULT_CLOSE_GRACE_MS,
  };
  return {
    kind: 'websocket',
    async listen(): Promise<DatagramServerSocket> {
      const wss = new WebSocketServer({
        host,
        port: options.port ?? 0,
        path: options.path,
        maxPayload: settings.maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          wss.off('listening', onListening);
          wss.close();
          reject(error);
        };
        const onListening = () => {
          wss.off('error', onError);
          resolve();
        };
        wss.once('error', onError);
        wss.once('listening', onListening);
      });
      const bound = wss.address();
      const port = typeof bound === 'object' && bound ? bound.port : (options.port ?? 0);
      const url = websocketUrl(host, port, options.path ?? '/');
      return new WebSocketServerSocket(wss, { transport: 'websocket', host, port, url }, settings);
    },
  };
}

/**
 * A WebSocket client transport (Node, `ws`) for a server address or URL. `connect()` resolves
 * when the socket is open and rejects if the handshake fails.
 */
export function websocketClient(
  address: TransportAddress | string,
  options: WebSocketClientOptions = {},
): DatagramClientTransport {
  const url = resolveWebSocketUrl(address);
  const settings = {
    maxPayload: options.maxPayload ?? WS_DEFAULT_MAX_PAYLOAD,
    maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
    closeGraceMs: options.closeGraceMs ?? WS_DEFAULT_CLOSE_GRACE_MS,
  };
  return {
    kind: 'websocket',
    connect(): Promise<DatagramClientSocket> {
      return new Promise((resolve, reject) => {
        let ws: WebSocket;
        try {
          ws = new WebSocket(url, {
            perMessageDeflate: false,
            maxPayload: settings.maxPayload,
            handshakeTimeout: options.handshakeTimeoutMs ?? WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
          });
        } catch (error) {
          reject(error); // malformed URL
          return;
        }
        // Kept for the socket's lifetime: a later protocol error must not become uncaught.
        const errors = { count: 0, last: undefined as Error | undefined };
        ws.on('error', (error) => {
          errors.count++;
          errors.last = error;
        });
        const onEarlyClose = (code: number, reason: Buffer) => {
          reject(
            errors.last ?? new Error(`websocket: ${describeClose(code, reason.toString())} before open`),
          );
        };
        ws.once('close', onEarlyClose);
        ws.once('open', () => {
          ws.off('close', onEarlyClose);
          const socket = new WebSocketClientSocket(ws, settings);
          socket.stats.errors += errors.count;
          ws.on('error', () => {
            socket.stats.errors++;
          });
          resolve(socket);
        });
      });
    },
  };
}
