/**
 * WebSocket datagram transport for Node, over the `ws` package. One datagram is one binary
 * WebSocket message; text messages are counted and ignored. Compression is off (datagrams are
 * small and already compact; deflate would cost CPU and memory per socket).
 *
 * WebSocket runs over TCP, so "datagrams" here are in fact reliable and ordered; the link
 * layer above works the same either way. A slow peer cannot grow memory without bound:
 * once a socket has `maxBufferedBytes` queued, further datagrams are dropped and counted.
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
  WS_CLOSE_POLICY,
  WS_CLOSE_TRY_AGAIN_LATER,
  WS_DEFAULT_CLOSE_GRACE_MS,
  WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
  WS_DEFAULT_IDLE_TIMEOUT_MS,
  WS_DEFAULT_MAX_BUFFERED,
  WS_DEFAULT_MAX_PAYLOAD,
  WS_DEFAULT_MAX_PEERS,
  WS_DEFAULT_MAX_PENDING_HANDSHAKES,
  WS_DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
  websocketUrl,
} from './wsCommon.js';

/** Options of `websocketServer`. */
export interface WebSocketServerOptions {
  /** Interface to bind. Default '127.0.0.1'. Ignored with `server`. */
  host?: string;
  /** Port; 0 (default) lets the OS pick one. Ignored with `server`. */
  port?: number;
  /** Only accept upgrades on this path (e.g. '/baton'). Default: any path; the URL uses '/'. */
  path?: string;
  /**
   * Serve `wss://`: the certificate chain and key (PEM) of an `https` server this transport
   * creates. Ignored with `server` (an `https.Server` there is already `wss://`).
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /**
   * Attach to an existing `http`/`https` server (sharing its port with the application's HTTP)
   * instead of creating one: `listen()` resolves once it listens; `close()` stops taking
   * upgrades and closes this transport's peers but leaves that server open. Its other HTTP
   * traffic, and the time its connections may take before upgrading, are its owner's business
   * (Node's `headersTimeout`/`requestTimeout`).
   */
  server?: HttpServer | HttpsServer;
  /** Largest message accepted; a bigger one closes that socket with 1009. Default 64 KiB. */
  maxPayload?: number;
  /** Per-socket send queue bound in bytes before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Most simultaneous peers; extra connections are closed with 1013. Default 10 000. */
  maxPeers?: number;
  /**
   * Most connections still in their handshake (TCP accepted, not yet upgraded); extra ones are
   * cut at once. Default 256. Not applied with `server`.
   */
  maxPendingHandshakes?: number;
  /**
   * From TCP accept to a completed upgrade (TLS included), else the connection is cut.
   * Default 5000 ms. Not applied with `server`.
   */
  handshakeTimeoutMs?: number;
  /**
   * A peer that sends no datagram for this long — including one that never sends any — is
   * closed (1008 'idle timeout') and reported through `onPeerClosed`. Default 10 000 ms.
   */
  idleTimeoutMs?: number;
  /** How long `close()` waits for closing handshakes before cutting sockets. Default 1000 ms. */
  closeGraceMs?: number;
}

/** What a WebSocket server refused or cut, beyond the datagram counters of `stats`. */
export interface WebSocketServerLimitStats {
  /** Connections cut because their handshake outlived `handshakeTimeoutMs`. */
  handshakeTimeouts: number;
  /** Connections cut at once because `maxPendingHandshakes` were already in their handshake. */
  refusedPending: number;
  /** Peers closed (1013) because `maxPeers` were connected. */
  refusedFull: number;
  /** Peers closed (1008) for sending nothing for `idleTimeoutMs`. */
  idleTimeouts: number;
  /** Plain HTTP requests answered 426 (an own server only). */
  refusedHttp: number;
}

/** Options of `websocketClient`. */
export interface WebSocketClientOptions {
  /** Largest message accepted from the server. Default 64 KiB. */
  maxPayload?: number;
  /** Send queue bound in bytes before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Opening handshake timeout. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** For `wss://`: the CA certificate(s) (PEM) to trust instead of the system's. */
  ca?: string | Buffer | (string | Buffer)[];
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

interface ServerSettings {
  maxPayload: number;
  maxBufferedBytes: number;
  maxPeers: number;
  maxPendingHandshakes: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  closeGraceMs: number;
}

class WebSocketServerSocket implements DatagramServerSocket {
  readonly maxDatagramSize: number;
  onDatagram: (peer: PeerId, data: Uint8Array) => void = noop;
  onPeerClosed: (peer: PeerId) => void = noop;
  readonly stats: TransportStats = createTransportStats();
  readonly limits: WebSocketServerLimitStats = {
    handshakeTimeouts: 0,
    refusedPending: 0,
    refusedFull: 0,
    idleTimeouts: 0,
    refusedHttp: 0,
  };
  private readonly peers = new Map<PeerId, WebSocket>();
  /** Raw connections of an own server still in their handshake, with their deadline. */
  private readonly pending = new Map<string, { socket: Socket; timer: ReturnType<typeof setTimeout> }>();
  private nextPeer = 0;
  private open = true;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly wss: WebSocketServer,
    private readonly http: HttpServer | HttpsServer,
    /** Whether `http` is ours (created by `listen`), so closed with us and under our handshake bounds. */
    private readonly ownsServer: boolean,
    readonly address: TransportAddress,
    private readonly options: ServerSettings,
  ) {
    this.maxDatagramSize = options.maxPayload;
    wss.on('error', () => {
      this.stats.errors++;
    });
    http.on('upgrade', this.onUpgrade);
    if (ownsServer) {
      http.on('connection', this.onConnection);
      http.on('request', this.onRequest);
      if ('setSecureContext' in http) http.on('tlsClientError', this.onTlsError);
    }
  }

  /** An own server's raw connection: bounded in number and in time until it upgrades. */
  private readonly onConnection = (socket: Socket): void => {
    socket.on('error', () => {
      this.stats.errors++;
    });
    if (!this.open || this.pending.size >= this.options.maxPendingHandshakes) {
      if (this.open) this.limits.refusedPending++;
      socket.destroy();
      return;
    }
    // keyed by the remote end: under TLS the upgrade arrives on a TLSSocket wrapping this one
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const timer = setTimeout(() => {
      this.pending.delete(key);
      this.limits.handshakeTimeouts++;
      socket.destroy();
    }, this.options.handshakeTimeoutMs);
    this.pending.set(key, { socket, timer });
    socket.once('close', () => {
      if (this.pending.get(key)?.socket === socket) this.settle(key);
    });
  };

  /** A raw connection is no longer in its handshake (upgraded or gone). */
  private settle(key: string): void {
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(key);
  }

  private readonly onTlsError = (_error: Error, socket: Socket): void => {
    this.stats.errors++;
    socket.destroy();
  };

  /** A plain HTTP request to an own server: this port speaks WebSocket only. */
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.limits.refusedHttp++;
    req.resume();
    res.writeHead(426, { connection: 'close', upgrade: 'websocket', 'content-type': 'text/plain' });
    res.end('WebSocket only\n');
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const s = socket as Socket;
    this.settle(`${s.remoteAddress}|${s.remotePort}`);
    if (!this.open) {
      socket.destroy();
      return;
    }
    if (!this.wss.shouldHandle(req)) {
      // a shared server may have other upgrade handlers (another path); an own one has none
      if (this.ownsServer || this.http.listenerCount('upgrade') <= 1) refuseUpgrade(socket, 404);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  };

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
      this.limits.refusedFull++;
      void closeWithGrace(ws, WS_CLOSE_TRY_AGAIN_LATER, 'server full', this.options.closeGraceMs);
      return;
    }
    const peer: PeerId = `ws#${++this.nextPeer}`;
    this.peers.set(peer, ws);
    // Silence is bounded: refreshed by every datagram (refresh() re-arms without allocating).
    const idle = setTimeout(() => {
      if (this.peers.get(peer) !== ws) return;
      this.limits.idleTimeouts++;
      // stays in `peers` until it is closed, so the close is reported like a departure
      void closeWithGrace(ws, WS_CLOSE_POLICY, 'idle timeout', this.options.closeGraceMs);
    }, this.options.idleTimeoutMs);
    ws.on('message', (data, isBinary) => {
      if (!this.open || this.peers.get(peer) !== ws) return;
      if (!isBinary) {
        this.stats.droppedInvalid++;
        return;
      }
      idle.refresh();
      const bytes = toBytes(data);
      this.stats.datagramsReceived++;
      this.stats.bytesReceived += bytes.byteLength;
      this.onDatagram(peer, bytes);
    });
    ws.on('close', () => {
      clearTimeout(idle);
      // Only a peer that went away (or was cut for silence) is reported, not one we
      // disconnected or a shutdown.
      if (this.peers.get(peer) !== ws) return;
      this.peers.delete(peer);
      if (this.open) this.onPeerClosed(peer);
    });
  }

  /** Number of connected peers. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** Number of connections still in their handshake (an own server only). */
  get pendingCount(): number {
    return this.pending.size;
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

  /**
   * Stops taking connections (an own server's port is free at once; an attached server stays
   * open), closes every peer, resolves when all are gone.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.open = false;
      const sockets = [...this.peers.values()];
      this.peers.clear();
      for (const { socket, timer } of this.pending.values()) {
        clearTimeout(timer);
        socket.destroy();
      }
      this.pending.clear();
      this.http.off('upgrade', this.onUpgrade);
      const closed: Promise<void>[] = [new Promise<void>((resolve) => this.wss.close(() => resolve()))];
      if (this.ownsServer) {
        this.http.off('request', this.onRequest);
        closed.push(new Promise<void>((resolve) => this.http.close(() => resolve())));
      }
      for (const ws of sockets)
        closed.push(closeWithGrace(ws, WS_CLOSE_GOING_AWAY, 'server closing', this.options.closeGraceMs));
      this.closing = Promise.all(closed).then(() => undefined);
    }
    return this.closing;
  }
}

/** Answers an upgrade we will not take with a bare HTTP status, then cuts the socket. */
function refuseUpgrade(socket: Duplex, status: number): void {
  socket.once('error', noop);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  );
  (socket as Socket).destroySoon?.();
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
 * `url` (`ws://127.0.0.1:PORT/path`, or `wss://` with `tls` or an attached `https` server).
 * Peers are "ws#1", "ws#2", … in connection order. Bounded by default: handshakes (5 s, 256 at
 * once), silence (10 s), peers (10 000).
 */
export function websocketServer(options: WebSocketServerOptions = {}): DatagramServerTransport {
  const settings: ServerSettings = {
    maxPayload: options.maxPayload ?? WS_DEFAULT_MAX_PAYLOAD,
    maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
    maxPeers: options.maxPeers ?? WS_DEFAULT_MAX_PEERS,
    maxPendingHandshakes: options.maxPendingHandshakes ?? WS_DEFAULT_MAX_PENDING_HANDSHAKES,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? WS_DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
    idleTimeoutMs: options.idleTimeoutMs ?? WS_DEFAULT_IDLE_TIMEOUT_MS,
    closeGraceMs: options.closeGraceMs ?? WS_DEFAULT_CLOSE_GRACE_MS,
  };
  return {
    kind: 'websocket',
    async listen(): Promise<DatagramServerSocket> {
      const attached = options.server;
      const http: HttpServer | HttpsServer =
        attached ??
        (options.tls
          ? createHttpsServer({
              cert: options.tls.cert,
              key: options.tls.key,
              ca: options.tls.ca,
              handshakeTimeout: settings.handshakeTimeoutMs,
            })
          : createHttpServer());
      if (!attached) {
        // the socket-level deadline (onConnection) is the real bound; these make Node agree
        http.headersTimeout = settings.handshakeTimeoutMs;
        http.requestTimeout = settings.handshakeTimeoutMs;
      }
      const wss = new WebSocketServer({
        noServer: true,
        path: options.path,
        maxPayload: settings.maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
      });
      if (!attached) {
        await new Promise<void>((resolve, reject) => {
          const onError = (error: Error) => {
            http.off('listening', onListening);
            wss.close();
            reject(error);
          };
          const onListening = () => {
            http.off('error', onError);
            resolve();
          };
          http.once('error', onError);
          http.once('listening', onListening);
          http.listen(options.port ?? 0, options.host ?? '127.0.0.1');
        });
      } else if (!attached.listening) {
        await new Promise<void>((resolve) => attached.once('listening', () => resolve()));
      }
      const bound = http.address();
      const port = typeof bound === 'object' && bound ? bound.port : (options.port ?? 0);
      const host = attached
        ? typeof bound === 'object' && bound
          ? bound.address
          : '127.0.0.1'
        : (options.host ?? '127.0.0.1');
      const secure = 'setSecureContext' in http;
      const url = websocketUrl(host, port, options.path ?? '/', secure);
      return new WebSocketServerSocket(
        wss,
        http,
        !attached,
        { transport: 'websocket', host, port, url },
        settings,
      );
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
            ...(options.ca !== undefined ? { ca: options.ca } : {}),
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
