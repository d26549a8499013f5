/**
 * What every client socket shares: counters and the handler slots. A server may answer in the
 * same network read that completes the handshake, before the owner of a just-connected socket
 * had a chance to set `onDatagram`; such early datagrams (and an early close) are held and
 * handed over, in order, once the handler is set. Browser-safe.
 */
import { createTransportStats } from './stats.js';
import type { DatagramClientSocket, TransportStats } from './types.js';

/** How many datagrams are held for a socket whose `onDatagram` is not set yet. */
const MAX_EARLY_DATAGRAMS = 256;

export abstract class ClientSocketBase implements DatagramClientSocket {
  abstract readonly maxDatagramSize: number;
  readonly stats: TransportStats = createTransportStats();

  private datagramHandler: ((data: Uint8Array) => void) | undefined;
  private closedHandler: ((reason: string) => void) | undefined;
  private readonly early: Uint8Array[] = [];
  private pendingClose: string | undefined;
  private flushScheduled = false;
  /** False once closed by either side; sends are then dropped. */
  protected isOpen = true;
  /** Set by `close()`: the owner asked, so no more callbacks. */
  private closedByOwner = false;

  get onDatagram(): (data: Uint8Array) => void {
    return this.datagramHandler ?? noop;
  }

  set onDatagram(handler: (data: Uint8Array) => void) {
    this.datagramHandler = handler;
    if (this.early.length > 0) this.scheduleFlush();
  }

  get onClosed(): (reason: string) => void {
    return this.closedHandler ?? noop;
  }

  set onClosed(handler: (reason: string) => void) {
    this.closedHandler = handler;
    if (this.pendingClose !== undefined) this.scheduleFlush();
  }

  abstract send(data: Uint8Array): void;
  abstract close(): Promise<void>;

  /**
   * Send through a WHATWG-style sink (a browser `WebSocket` or `RTCDataChannel`): counted drops
   * when it is not open, the datagram is too large, or more than `maxBuffered` bytes wait in it.
   * Its `send` copies synchronously, so the caller may reuse `data`.
   */
  protected sendThrough(
    sink: { readonly bufferedAmount: number; send(data: Uint8Array): void },
    sinkOpen: boolean,
    maxBuffered: number,
    data: Uint8Array,
  ): void {
    if (!this.isOpen || !sinkOpen) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    if (sink.bufferedAmount > maxBuffered) {
      this.stats.droppedBackpressure++;
      return;
    }
    try {
      sink.send(data);
      this.stats.datagramsSent++;
      this.stats.bytesSent += data.byteLength;
    } catch {
      this.stats.errors++;
    }
  }

  /** Subclasses call this for every datagram received. */
  protected receive(data: Uint8Array): void {
    if (this.closedByOwner) return;
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += data.byteLength;
    const handler = this.datagramHandler;
    if (handler && this.early.length === 0) {
      handler(data);
      return;
    }
    if (this.early.length >= MAX_EARLY_DATAGRAMS) {
      this.stats.droppedBackpressure++;
      return;
    }
    this.early.push(data);
    if (handler) this.scheduleFlush();
  }

  /** Subclasses call this when the transport closed by itself (peer, network, error). */
  protected closedByTransport(reason: string): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    if (this.closedByOwner) return;
    if (this.closedHandler && this.early.length === 0) {
      this.closedHandler(reason);
      return;
    }
    this.pendingClose = reason;
    this.scheduleFlush();
  }

  /** Subclasses call this at the start of `close()`: no callback follows. Returns false if already closed by the owner. */
  protected markClosedByOwner(): boolean {
    if (this.closedByOwner) return false;
    this.closedByOwner = true;
    this.isOpen = false;
    this.early.length = 0;
    this.pendingClose = undefined;
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.early.length > 0 && this.datagramHandler && !this.closedByOwner) {
      this.datagramHandler(this.early.shift()!);
    }
    if (
      this.early.length === 0 &&
      this.pendingClose !== undefined &&
      this.closedHandler &&
      !this.closedByOwner
    ) {
      const reason = this.pendingClose;
      this.pendingClose = undefined;
      this.closedHandler(reason);
    }
  }
}

const noop = () => {};
