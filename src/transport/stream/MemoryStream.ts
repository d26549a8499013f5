/**
 * In-memory framed streams for tests: no sockets, but the same bytes, the same decoder and the
 * same close and backpressure rules as TLS. Bytes move between the two ends on microtasks, so
 * a test awaits (e.g. `await new Promise(setImmediate)`) for them to arrive. Optionally every
 * write is cut into seeded random pieces to exercise the frame decoder across chunk borders.
 * Browser-safe (no `node:` imports).
 */
import { SeededRandom } from '../../util/SeededRandom.js';
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

/** Options of `memoryStreamPair` and of a `MemoryStreamNetwork`'s servers and clients. */
export interface MemoryStreamOptions extends StreamLimits {
  /** Cut each write into random pieces of 1..maxChunk bytes with this seed. Default: whole writes. */
  chunking?: { seed: number; maxChunk: number };
}

/** Identities the two ends of a pair see of each other (`a.peer` is `identities.b`). */
export interface MemoryPairIdentities {
  a?: StreamPeerIdentity;
  b?: StreamPeerIdentity;
}

/** A fake certificate identity for memory connections: `peerIdentity('proxy-1')`. */
export function peerIdentity(commonName: string): StreamPeerIdentity {
  return {
    subject: { CN: commonName },
    commonName,
    issuerCommonName: 'memory',
    fingerprint256: `MEMORY:${commonName}`,
    serialNumber: '00',
    validTo: 'never',
  };
}

/** One end of an in-memory stream. */
export class MemoryStreamConnection extends StreamConnectionBase {
  readonly remoteAddress: string;
  /** The other end; set right after construction. */
  private other!: MemoryStreamConnection;
  private readonly outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  private pumpScheduled = false;
  private readPaused = false;
  /** Our side ended: once `outgoing` is delivered, the other end sees the stream close. */
  private ending = false;
  private gone = false;
  private resolveGone: (() => void) | undefined;
  private readonly goneBarrier: Promise<void>;
  private readonly random: SeededRandom | undefined;

  constructor(
    id: string,
    peer: StreamPeerIdentity | undefined,
    remoteAddress: string,
    private readonly options: MemoryStreamOptions,
  ) {
    super(id, peer, options);
    this.remoteAddress = remoteAddress;
    this.random = options.chunking ? new SeededRandom(options.chunking.seed) : undefined;
    this.goneBarrier = new Promise((resolve) => {
      this.resolveGone = resolve;
    });
  }

  /** Link two ends. */
  static link(a: MemoryStreamConnection, b: MemoryStreamConnection): void {
    a.other = b;
    b.other = a;
  }

  get bufferedBytes(): number {
    return this.outgoingBytes;
  }

  /** Testing: put raw bytes on the stream (garbage, hand-made frames), bypassing framing. */
  writeRaw(bytes: Uint8Array): void {
    if (this.ending || this.gone) return;
    this.writeBytes(bytes.slice());
  }

  /** Testing: the other end vanishes without a word, as after a network failure. */
  breakConnection(reason = 'connection error: ECONNRESET (memory)'): void {
    this.other.dropped(reason);
    this.dropped(reason);
  }

  protected writeBytes(bytes: Uint8Array): void {
    this.outgoing.push(bytes);
    this.outgoingBytes += bytes.byteLength;
    this.schedulePump();
  }

  protected canWrite(): boolean {
    return !this.ending && !this.gone;
  }

  protected pauseReading(): void {
    this.readPaused = true;
  }

  protected resumeReading(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    this.other.schedulePump();
  }

  protected shutdownStream(): Promise<void> {
    this.ending = true;
    this.schedulePump();
    return this.goneBarrier;
  }

  private dropped(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    this.outgoing.length = 0;
    this.outgoingBytes = 0;
    this.transportClosed(reason);
    this.finished();
    this.resolveGone?.();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Deliver queued bytes to the other end while it reads; then pass on our end of stream. */
  private pump(): void {
    const other = this.other;
    if (this.gone) return;
    // once we are ending, deliver even to a paused reader (it holds the frames): close must not wait on it
    while (this.outgoing.length > 0 && (this.ending || !other.readPaused) && !other.gone) {
      const bytes = this.outgoing.shift()!;
      this.outgoingBytes -= bytes.byteLength;
      other.receiveChunks(bytes);
    }
    if (other.gone) {
      this.outgoing.length = 0;
      this.outgoingBytes = 0;
    }
    this.checkDrain();
    if (this.ending && this.outgoing.length === 0) {
      // both directions end together, as when a TCP connection closes
      other.dropped('peer closed');
      this.dropped('peer closed');
    }
  }

  private receiveChunks(bytes: Uint8Array): void {
    if (!this.random || !this.options.chunking) {
      this.receiveBytes(bytes);
      return;
    }
    for (let at = 0; at < bytes.byteLength; ) {
      const size = this.random.int(1, Math.max(1, this.options.chunking.maxChunk));
      this.receiveBytes(bytes.subarray(at, at + size));
      at += size;
    }
  }
}

let nextPairId = 0;

/**
 * Two connected ends. Whatever `a` sends, `b` receives, and the reverse; `a.peer` is
 * `identities.b` and `b.peer` is `identities.a`.
 */
export function memoryStreamPair(
  options: MemoryStreamOptions = {},
  identities: MemoryPairIdentities = {},
): [MemoryStreamConnection, MemoryStreamConnection] {
  const n = ++nextPairId;
  const a = new MemoryStreamConnection(`mem#${n}a`, identities.b, `memory:${n}b`, options);
  const b = new MemoryStreamConnection(`mem#${n}b`, identities.a, `memory:${n}a`, options);
  MemoryStreamConnection.link(a, b);
  return [a, b];
}

/** Options of a memory stream server. */
export interface MemoryStreamServerOptions extends MemoryStreamOptions {
  /** Port to take; 0 (default) picks the next free one. */
  port?: number;
  /** The identity clients see of this server. */
  identity?: StreamPeerIdentity;
  /** Like the TLS option: refuse a client by its identity (clients without one are seen as `undefined`). */
  authorize?: (peer: StreamPeerIdentity | undefined) => true | string;
}

/** Options of a memory stream client. */
export interface MemoryStreamClientOptions extends MemoryStreamOptions {
  /** The identity the server sees of this client. */
  identity?: StreamPeerIdentity;
}

/** The refusal of a server that is closing (not a policy verdict). */
const CLOSING = 'connection refused';

class MemoryStreamServer implements StreamServer {
  onConnection: (connection: StreamConnection) => void = () => {};
  authorize?: (peer: StreamPeerIdentity | undefined) => true | string;
  readonly stats: StreamServerStats = createStreamServerStats();
  private readonly open = new Set<MemoryStreamConnection>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly address: StreamAddress,
    readonly options: MemoryStreamServerOptions,
    private readonly unbind: () => void,
  ) {}

  get connections(): ReadonlySet<StreamConnection> {
    return this.open;
  }

  /** Returns the refusal reason, or undefined when accepted. */
  accept(connection: MemoryStreamConnection): string | undefined {
    if (this.closing) return CLOSING;
    let verdict: true | string = true;
    for (const hook of [this.options.authorize, this.authorize]) {
      if (!hook || verdict !== true) continue;
      try {
        verdict = hook(connection.peer);
      } catch {
        verdict = 'authorization failed';
      }
    }
    if (verdict !== true) {
      this.stats.connectionsRefused++;
      return verdict;
    }
    this.open.add(connection);
    connection.onceFinished(() => this.open.delete(connection));
    connection.protocolErrorListener = () => {
      this.stats.protocolErrors++;
    };
    this.stats.connectionsAccepted++;
    try {
      this.onConnection(connection);
    } catch (error) {
      console.error('baton: stream server onConnection threw', error);
    }
    return undefined;
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.unbind();
      this.closing = Promise.all([...this.open].map((c) => c.close('server closing'))).then(() => undefined);
    }
    return this.closing;
  }
}

/**
 * A registry of in-memory stream servers by port, so code written against
 * `StreamServerTransport` / `StreamClientTransport` runs without sockets:
 * `const net = new MemoryStreamNetwork(); const server = await net.server().listen();
 *  const conn = await net.client(server.address).connect();`
 */
export class MemoryStreamNetwork {
  private readonly servers = new Map<number, MemoryStreamServer>();
  private nextPort = 1;

  server(options: MemoryStreamServerOptions = {}): StreamServerTransport {
    return {
      kind: 'memory',
      listen: async (): Promise<StreamServer> => {
        let port = options.port ?? 0;
        if (port === 0) {
          while (this.servers.has(this.nextPort)) this.nextPort++;
          port = this.nextPort++;
        } else if (this.servers.has(port)) {
          throw new Error(`memory stream: port ${port} in use`);
        }
        const server = new MemoryStreamServer({ transport: 'memory', host: 'memory', port }, options, () => {
          if (this.servers.get(port) === server) this.servers.delete(port);
        });
        this.servers.set(port, server);
        return server;
      },
    };
  }

  client(address: StreamAddress | number, options: MemoryStreamClientOptions = {}): StreamClientTransport {
    const port = typeof address === 'number' ? address : address.port;
    return {
      kind: 'memory',
      connect: async (): Promise<StreamConnection> => {
        const server = this.servers.get(port);
        if (!server) throw new Error(`memory stream: connection refused (port ${port})`);
        const limits = { ...server.options, ...options };
        const [clientEnd, serverEnd] = memoryStreamPair(
          {
            maxPayload: limits.maxPayload,
            maxBufferedBytes: limits.maxBufferedBytes,
            chunking: limits.chunking,
          },
          { a: options.identity, b: server.options.identity },
        );
        const refusal = server.accept(serverEnd);
        if (refusal !== undefined) {
          void clientEnd.close();
          if (refusal === CLOSING) throw new Error(`memory stream: ${refusal}`);
          throw new StreamRefusedError(refusal);
        }
        return clientEnd;
      },
    };
  }
}
