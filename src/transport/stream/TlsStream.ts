/**
 * Framed streams over TLS with **mutual authentication** (`node:tls`), for the proxy ↔ backend
 * hop. The server requires a client certificate signed by its CA; the client verifies the
 * server's certificate against its CA and the host name (or the `servername` given). Both sides
 * expose the peer certificate's identity on the connection (`connection.peer`).
 *
 * Decisions:
 * - **TLS 1.3 minimum** by default (`minVersion: 'TLSv1.3'`): no renegotiation, a shorter
 *   handshake and no legacy cipher suites to configure. `'TLSv1.2'` can be chosen for peers
 *   that lack 1.3.
 * - **Nagle off** (`setNoDelay`): frames are latency-sensitive game traffic; TCP keepalive on.
 * - ALPN `baton-stream/1`: a peer that offers other ALPN protocols (an HTTP/2 client, say) fails
 *   the handshake; one that offers none is still held to the certificate checks.
 * - In TLS 1.3 a client finishes its handshake before the server has judged the client
 *   certificate, so the server sends a READY control frame once it has accepted the
 *   connection, and `connect()` resolves only then: a refused certificate rejects `connect()`.
 */

import type { Socket } from 'node:net';
import {
  createServer,
  type PeerCertificate,
  type Server,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { StreamConnectionBase, type StreamLimits } from './StreamConnectionBase.js';
import { StreamRefusedError } from './StreamRefusedError.js';
import { createStreamServerStats } from './stats.js';
import type {
  StreamAddress,
  StreamClientTransport,
  StreamConnection,
  StreamPeerIdentity,
  StreamServer,
  StreamServerStats,
  StreamServerTransport,
} from './types.js';

/** ALPN protocol id both sides insist on. */
export const STREAM_ALPN = 'baton-stream/1';

/** PEM text (or a Buffer of it); several CAs may be given as an array. */
export type PemInput = string | Buffer | (string | Buffer)[];

/** Verdict of an `authorize` hook: `true` accepts, a string refuses with that reason. */
export type AuthorizeVerdict = true | string;

/** Options shared by both ends of a TLS stream. */
export interface TlsStreamCommonOptions extends StreamLimits {
  /** This side's certificate chain (PEM). */
  cert: PemInput;
  /** This side's private key (PEM). */
  key: PemInput;
  /** CA certificate(s) the peer's certificate must chain to (PEM). Only these are trusted. */
  ca: PemInput;
  /** Lowest TLS version accepted. Default 'TLSv1.3'. */
  minVersion?: 'TLSv1.3' | 'TLSv1.2';
  /** Time allowed for TCP + TLS handshake (+ READY on the client). Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits for the peer to finish before cutting the socket. Default 1000 ms. */
  closeGraceMs?: number;
  /** TCP keepalive initial delay. Default 15 000 ms. */
  keepAliveMs?: number;
  /**
   * Extra check after the certificate verified (e.g. an allow-list of proxy CNs). Return `true`
   * to accept or a reason to refuse; a throwing hook refuses.
   */
  authorize?: (peer: StreamPeerIdentity) => AuthorizeVerdict;
}

/** Options of `tlsStreamServer`. */
export interface TlsStreamServerOptions extends TlsStreamCommonOptions {
  /** Interface to bind. Default '127.0.0.1'. */
  host?: string;
  /** Port; 0 (default) lets the OS pick one. */
  port?: number;
  /** Most simultaneous connections; more are refused with 'server full'. Default unlimited. */
  maxConnections?: number;
  /** Told about every failed handshake (bad certificate, plain TCP, timeout), for logging. */
  onHandshakeError?: (error: Error) => void;
}

/** Options of `tlsStreamClient`. */
export interface TlsStreamClientOptions extends TlsStreamCommonOptions {
  host: string;
  port: number;
  /**
   * Name the server certificate must carry (SNI and identity check). Default: `host` (an IP
   * address is then matched against the certificate's IP subject alternative names).
   */
  servername?: string;
}

interface Settings {
  maxPayload?: number;
  maxBufferedBytes?: number;
  closeGraceMs: number;
  keepAliveMs: number;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

/** The identity of a verified peer certificate, or undefined if there is none. */
export function identityFromCertificate(cert: PeerCertificate | undefined): StreamPeerIdentity | undefined {
  if (!cert?.fingerprint256) return undefined;
  const subject: Record<string, string> = {};
  for (const [field, value] of Object.entries(cert.subject ?? {})) {
    const v = firstValue(value as string | string[] | undefined);
    if (v !== undefined) subject[field] = v;
  }
  return {
    subject,
    commonName: subject.CN,
    issuerCommonName: firstValue(cert.issuer?.CN),
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
    validTo: cert.valid_to,
  };
}

function errorLabel(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${code} (${error.message})` : error.message;
}

/** The error reported for a client certificate that failed verification. */
function certificateRefused(verdict: Error | string, cause: Error): Error {
  const code =
    typeof verdict === 'string' ? verdict : ((verdict as NodeJS.ErrnoException).code ?? verdict.message);
  const error = new Error(`client certificate refused: ${code}`, { cause }) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

function runAuthorize(hook: TlsStreamCommonOptions['authorize'], peer: StreamPeerIdentity): AuthorizeVerdict {
  if (!hook) return true;
  try {
    const verdict = hook(peer);
    return verdict === true ? true : String(verdict || 'not authorized');
  } catch {
    return 'authorization failed';
  }
}

/** One TLS socket as a framed stream connection. */
class TlsStreamConnection extends StreamConnectionBase {
  readonly remoteAddress: string;
  private lastError: Error | undefined;
  private readyCallback: (() => void) | undefined;
  private readonly closed: Promise<void>;

  constructor(
    private readonly socket: TLSSocket,
    id: string,
    peer: StreamPeerIdentity | undefined,
    private readonly settings: Settings,
  ) {
    super(id, peer, settings);
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, settings.keepAliveMs);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        const error = this.lastError;
        this.transportClosed(error ? `connection error: ${errorLabel(error)}` : 'peer closed');
        this.finished();
        resolve();
      });
    });
    socket.on('error', (error) => {
      this.stats.errors++;
      this.lastError ??= error;
    });
    socket.on('data', (chunk: Buffer) => {
      // a plain Uint8Array view (no copy): payloads handed up are never Buffers
      this.receiveBytes(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on('drain', () => this.checkDrain());
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Client side: resolve `connect()` when the server's READY arrives. */
  expectReady(callback: () => void): void {
    this.readyCallback = callback;
  }

  /** Server side: tell the client it was accepted. */
  accept(): void {
    this.sendReady();
  }

  /** Client side: the connect helper hands over; a close from now on waits for the owner's handler. */
  handOver(): void {
    this.detachCloseHandler();
  }

  protected override handleReady(): boolean {
    const callback = this.readyCallback;
    if (!callback) return false;
    this.readyCallback = undefined;
    callback();
    return true;
  }

  protected writeBytes(bytes: Uint8Array): void {
    // Frames written in one turn of the event loop leave as one TLS record and one syscall:
    // a relay sends many small frames per turn, and a record plus a write each dominated.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.uncork());
    }
    this.socket.write(bytes, this.afterWrite);
  }

  private corked = false;
  private uncork(): void {
    this.corked = false;
    this.socket.uncork();
  }

  protected canWrite(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  protected shutdownStream(): Promise<void> {
    if (this.socket.destroyed) return this.closed;
    const timer = setTimeout(() => this.socket.destroy(), this.settings.closeGraceMs);
    this.socket.end();
    // a socket paused for held frames would never see the peer's FIN; nothing more is wanted from it
    this.socket.resume();
    return this.closed.then(() => clearTimeout(timer));
  }

  private readonly afterWrite = (error?: Error | null): void => {
    if (error) {
      this.stats.errors++;
      return;
    }
    this.checkDrain();
  };
}

function settingsOf(options: TlsStreamCommonOptions): Settings {
  return {
    maxPayload: options.maxPayload,
    maxBufferedBytes: options.maxBufferedBytes,
    closeGraceMs: options.closeGraceMs ?? 1000,
    keepAliveMs: options.keepAliveMs ?? 15_000,
  };
}

class TlsStreamServer implements StreamServer {
  onConnection: (connection: StreamConnection) => void = () => {};
  authorize?: (peer: StreamPeerIdentity | undefined) => AuthorizeVerdict;
  readonly stats: StreamServerStats = createStreamServerStats();
  private readonly open = new Set<TlsStreamConnection>();
  /** Every TCP socket, handshaking or not, so `close()` can cut the ones still handshaking. */
  private readonly rawSockets = new Set<Socket>();
  private nextId = 0;
  private listening = true;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: Server,
    readonly address: StreamAddress,
    private readonly options: TlsStreamServerOptions,
  ) {
    server.on('connection', (socket: Socket) => {
      this.rawSockets.add(socket);
      socket.once('close', () => this.rawSockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      this.stats.handshakeFailures++;
      // Node refuses an unverified client certificate by closing the socket, which surfaces
      // here as a bare 'socket hang up'; the verification verdict is on the socket
      const verdict = socket.authorizationError;
      socket.destroy();
      this.options.onHandshakeError?.(verdict ? certificateRefused(verdict, error) : error);
    });
    // errors of the listening socket after bind; without a listener they would be uncaught
    server.on('error', () => {});
  }

  get connections(): ReadonlySet<StreamConnection> {
    return this.open;
  }

  private accept(socket: TLSSocket): void {
    socket.on('error', () => {}); // until the connection object owns the socket
    if (!this.listening) {
      socket.destroy();
      return;
    }
    const peer = socket.authorized ? identityFromCertificate(socket.getPeerCertificate()) : undefined;
    if (!peer) {
      // unreachable with requestCert + rejectUnauthorized, kept as a guard
      this.stats.handshakeFailures++;
      socket.destroy();
      return;
    }
    const connection = new TlsStreamConnection(
      socket,
      `tls#${++this.nextId}`,
      peer,
      settingsOf(this.options),
    );
    let verdict =
      this.open.size >= (this.options.maxConnections ?? Number.POSITIVE_INFINITY)
        ? 'server full'
        : runAuthorize(this.options.authorize, peer);
    if (verdict === true) verdict = runAuthorize(this.authorize, peer);
    if (verdict !== true) {
      this.stats.connectionsRefused++;
      void connection.close(verdict);
      return;
    }
    this.open.add(connection);
    connection.onceFinished(() => this.open.delete(connection));
    connection.protocolErrorListener = () => {
      this.stats.protocolErrors++;
    };
    connection.accept();
    this.stats.connectionsAccepted++;
    try {
      this.onConnection(connection);
    } catch (error) {
      console.error('baton: stream server onConnection threw', error);
    }
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.listening = false;
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const connectionsClosed = [...this.open].map((c) => c.close('server closing'));
      this.closing = Promise.all(connectionsClosed).then(() => {
        // whatever is left is still handshaking: nothing to say to it
        for (const socket of this.rawSockets) socket.destroy();
        return serverClosed;
      });
    }
    return this.closing;
  }
}

/**
 * A mutually authenticated TLS stream server. `listen()` resolves once bound (port 0 becomes
 * the real port). Every accepted connection carries the client certificate's identity in
 * `connection.peer`.
 */
export function tlsStreamServer(options: TlsStreamServerOptions): StreamServerTransport {
  const host = options.host ?? '127.0.0.1';
  return {
    kind: 'tls',
    async listen(): Promise<StreamServer> {
      const server = createServer({
        cert: options.cert,
        key: options.key,
        ca: options.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: options.minVersion ?? 'TLSv1.3',
        handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
        ALPNProtocols: [STREAM_ALPN],
        allowHalfOpen: false,
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          server.close();
          reject(error);
        };
        server.once('error', onError);
        server.listen(options.port ?? 0, host, () => {
          server.off('error', onError);
          resolve();
        });
      });
      const bound = server.address();
      const port = typeof bound === 'object' && bound ? bound.port : (options.port ?? 0);
      return new TlsStreamServer(server, { transport: 'tls', host, port }, options);
    },
  };
}

let nextClientId = 0;
/** How a CLOSE frame's reason is reported: before READY it is the server's refusal. */
const REFUSED_PREFIX = 'peer closed: ';

/**
 * A TLS stream client that presents its certificate and verifies the server's. `connect()`
 * resolves once the server accepted the connection (READY received) and rejects — never
 * hangs — if the TCP connect, the handshake, the server's checks or the `authorize` hook fail,
 * or `handshakeTimeoutMs` passes.
 */
export function tlsStreamClient(options: TlsStreamClientOptions): StreamClientTransport {
  const settings = settingsOf(options);
  return {
    kind: 'tls',
    connect(): Promise<StreamConnection> {
      return new Promise((resolve, reject) => {
        let settled = false;
        let connection: TlsStreamConnection | undefined;
        const socket = tlsConnect({
          host: options.host,
          port: options.port,
          servername: options.servername,
          cert: options.cert,
          key: options.key,
          ca: options.ca,
          rejectUnauthorized: true,
          minVersion: options.minVersion ?? 'TLSv1.3',
          ALPNProtocols: [STREAM_ALPN],
        });
        const fail = (error: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (connection) void connection.close('connect failed');
          socket.destroy();
          reject(error);
        };
        const timer = setTimeout(
          () => fail(new Error('tls stream: connect timed out')),
          options.handshakeTimeoutMs ?? 10_000,
        );
        socket.on('error', (error) => fail(new Error(`tls stream: ${errorLabel(error)}`)));
        socket.once('close', () => {
          if (!connection) fail(new Error('tls stream: closed during handshake'));
        });
        socket.once('secureConnect', () => {
          if (settled) return;
          const peer = identityFromCertificate(socket.getPeerCertificate());
          const conn = new TlsStreamConnection(socket, `tls-client#${++nextClientId}`, peer, settings);
          connection = conn;
          const verdict = peer ? runAuthorize(options.authorize, peer) : 'no server certificate';
          if (verdict !== true) {
            fail(new Error(`tls stream: server refused locally: ${verdict}`));
            return;
          }
          // the server verifies our certificate after our side of the handshake is done (TLS 1.3) and
          // refuses it by closing, without an alert: a close before READY means "not accepted"
          conn.onClose = (reason) =>
            fail(
              reason.startsWith(REFUSED_PREFIX)
                ? new StreamRefusedError(reason.slice(REFUSED_PREFIX.length))
                : new Error(`tls stream: the server did not accept the connection (${reason})`),
            );
          conn.expectReady(() => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            conn.handOver();
            resolve(conn);
          });
        });
      });
    },
  };
}
