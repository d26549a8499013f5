/**
 * WebSocket client transport over the platform's global `WebSocket` (browsers, Deno, Node ≥ 22).
 * Browser-safe: no `node:` imports and no `ws` import. Same wire as the Node transport: one
 * binary message per datagram; text messages are counted and ignored.
 */
import { ClientSocketBase } from './ClientSocketBase.js';
import type { DatagramClientSocket, DatagramClientTransport, TransportAddress } from './types.js';
import {
  describeClose,
  resolveWebSocketUrl,
  WS_CLOSE_NORMAL,
  WS_DEFAULT_CLOSE_GRACE_MS,
  WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
  WS_DEFAULT_MAX_BUFFERED,
  WS_DEFAULT_MAX_PAYLOAD,
} from './wsCommon.js';

/** The subset of the WHATWG `WebSocket` this transport uses (lets tests inject one). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}

/** A `WebSocket` constructor compatible with the WHATWG one. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of `browserWebSocketClient`. */
export interface BrowserWebSocketClientOptions {
  /**
   * Largest datagram `send` accepts (the server's `maxPayload`; browsers accept any size on
   * receive). Default 64 KiB.
   */
  maxDatagramSize?: number;
  /** Send queue bound in bytes before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Fails `connect()` if not open by then. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits for the closing handshake before resolving anyway. Default 1000 ms. */
  closeGraceMs?: number;
  /** The constructor to use. Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
}

const OPEN = 1;
const CLOSED = 3;
const noop = () => {};

class BrowserWebSocketClientSocket extends ClientSocketBase {
  readonly maxDatagramSize: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ws: WebSocketLike,
    private readonly options: { maxDatagramSize: number; maxBufferedBytes: number; closeGraceMs: number },
  ) {
    super();
    this.maxDatagramSize = options.maxDatagramSize;
    ws.addEventListener('message', (event: { data: unknown }) => {
      const data = event.data;
      if (!(data instanceof ArrayBuffer)) {
        // Text frames (and Blobs, which binaryType 'arraybuffer' rules out) are not datagrams.
        this.stats.droppedInvalid++;
        return;
      }
      this.receive(new Uint8Array(data));
    });
    ws.addEventListener('error', () => {
      this.stats.errors++;
    });
    ws.addEventListener('close', (event: { code?: number; reason?: string }) =>
      this.closedByTransport(describeClose(event.code ?? 1006, event.reason ?? '')),
    );
  }

  send(data: Uint8Array): void {
    this.sendThrough(this.ws, this.ws.readyState === OPEN, this.options.maxBufferedBytes, data);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.markClosedByOwner();
      const ws = this.ws;
      this.closing =
        ws.readyState === CLOSED
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              // Browsers cannot force-cut a socket; after the grace period we stop waiting.
              const timer = setTimeout(resolve, this.options.closeGraceMs);
              ws.addEventListener('close', () => {
                clearTimeout(timer);
                resolve();
              });
              try {
                ws.close(WS_CLOSE_NORMAL);
              } catch {
                clearTimeout(timer);
                resolve();
              }
            });
    }
    return this.closing;
  }
}

/**
 * A WebSocket client transport using the global `WebSocket` (or `options.WebSocket`), for a
 * server address or URL. Browser-safe.
 */
export function browserWebSocketClient(
  address: TransportAddress | string,
  options: BrowserWebSocketClientOptions = {},
): DatagramClientTransport {
  const url = resolveWebSocketUrl(address);
  const settings = {
    maxDatagramSize: options.maxDatagramSize ?? WS_DEFAULT_MAX_PAYLOAD,
    maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
    closeGraceMs: options.closeGraceMs ?? WS_DEFAULT_CLOSE_GRACE_MS,
  };
  return {
    kind: 'websocket',
    connect(): Promise<DatagramClientSocket> {
      const Ctor =
        options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
      if (!Ctor) return Promise.reject(new Error('browserWebSocketClient: no global WebSocket'));
      return new Promise((resolve, reject) => {
        let ws: WebSocketLike;
        try {
          ws = new Ctor(url);
        } catch (error) {
          reject(error);
          return;
        }
        ws.binaryType = 'arraybuffer';
        // Never removed: some implementations (the `ws` package) throw an 'error' nobody listens to.
        ws.addEventListener('error', noop);
        let settled = false;
        const cleanup = () => {
          settled = true;
          clearTimeout(timer);
          ws.removeEventListener('open', onOpen);
          ws.removeEventListener('close', onEarlyClose);
          ws.removeEventListener('error', onEarlyError);
        };
        const fail = (error: Error) => {
          if (settled) return;
          cleanup();
          try {
            ws.close();
          } catch {
            // not open yet in some engines: ignore
          }
          reject(error);
        };
        const onOpen = () => {
          if (settled) return;
          cleanup();
          resolve(new BrowserWebSocketClientSocket(ws, settings));
        };
        const onEarlyClose = (event: { code?: number; reason?: string }) =>
          fail(new Error(`websocket: ${describeClose(event.code ?? 1006, event.reason ?? '')} before open`));
        // Browsers give no detail on 'error'; the 'close' that follows carries the code.
        const onEarlyError = () => fail(new Error(`websocket: could not connect to ${url}`));
        const timer = setTimeout(
          () => fail(new Error(`websocket: handshake timeout (${url})`)),
          options.handshakeTimeoutMs ?? WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
        );
        ws.addEventListener('open', onOpen);
        ws.addEventListener('close', onEarlyClose);
        ws.addEventListener('error', onEarlyError);
      });
    },
  };
}
