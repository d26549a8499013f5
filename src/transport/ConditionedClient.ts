/**
 * The seeded link conditioner around any client transport: the in-memory hub's loss, duplicate,
 * reorder, latency and jitter, applied to a real socket's datagrams in both directions (sends
 * on `toServer`, receives on `toClient`). For tests and benchmarks over real transports
 * (WebRTC, WebSocket, UDP on loopback). Browser-safe.
 */
import { SeededRandom } from '../util/SeededRandom.js';
import {
  deriveSeed,
  type LinkConditionerConfig,
  type LinkConditions,
  planDelivery,
  resolveConditions,
} from './LinkConditioner.js';
import type { DatagramClientSocket, DatagramClientTransport } from './types.js';

/** Delivers `data` after each planned delay (none: lost); a zero delay delivers at once. */
function deliver(c: LinkConditions, rng: SeededRandom, data: Uint8Array, to: (d: Uint8Array) => void): void {
  const delays = planDelivery(c, rng);
  if (delays.length === 0) return;
  // the caller may reuse its buffer once send returns: delayed copies keep their own
  const copy = delays.some((d) => d > 0) ? data.slice() : data;
  for (const d of delays) {
    if (d > 0) setTimeout(() => to(copy), d);
    else to(copy);
  }
}

/**
 * A loss under a reliable ordered stream (TCP under a WebSocket): the lost segment arrives
 * `resendMs` late, and everything sent after it waits behind it (head-of-line blocking).
 */
export interface StreamLossModel {
  /** Delay of a resent segment, ms (Linux's minimum retransmission timeout is 200 ms). */
  readonly resendMs: number;
}

/**
 * One direction of a stream: datagrams leave in the order they were given, each no sooner than
 * its planned time, through one queue (so a late timer can never let a later one overtake).
 */
class StreamDirection {
  private readonly queue: { at: number; data: Uint8Array }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private releaseAt = 0;

  constructor(
    private readonly c: LinkConditions,
    private readonly rng: SeededRandom,
    private readonly model: StreamLossModel,
    private readonly to: (d: Uint8Array) => void,
  ) {}

  push(data: Uint8Array): void {
    const delays = planDelivery(this.c, this.rng);
    // a stream never duplicates; a loss is a resend
    const delay = delays.length === 0 ? this.c.latencyMs + this.model.resendMs : delays[0];
    this.releaseAt = Math.max(Date.now() + delay, this.releaseAt);
    this.queue.push({ at: this.releaseAt, data: data.slice() });
    this.pump();
  }

  close(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private pump(): void {
    if (this.timer !== undefined) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].at <= now) this.to(this.queue.shift()!.data);
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.queue[0].at - now);
    }
  }
}

/**
 * `transport` with the conditioner on each socket it opens. `seed` makes the losses
 * reproducible for the same sequence of datagrams. With `stream`, losses are modelled as a
 * reliable ordered stream suffers them (late, and holding back what follows) instead of drops:
 * use it for WebSocket, whose datagrams TCP never loses.
 */
export function conditionedClient(
  transport: DatagramClientTransport,
  config: LinkConditionerConfig,
  seed = 1,
  stream?: StreamLossModel,
): DatagramClientTransport {
  const up = resolveConditions('toServer', config);
  const down = resolveConditions('toClient', config);
  return {
    kind: transport.kind,
    async connect(): Promise<DatagramClientSocket> {
      const inner = await transport.connect();
      const upRng = new SeededRandom(deriveSeed(seed, 0, 'toServer'));
      const downRng = new SeededRandom(deriveSeed(seed, 0, 'toClient'));
      let closed = false;
      let toSocket: (d: Uint8Array) => void = () => {};
      const upStream = stream && new StreamDirection(up, upRng, stream, (d) => !closed && inner.send(d));
      const downStream = stream && new StreamDirection(down, downRng, stream, (d) => !closed && toSocket(d));
      const socket: DatagramClientSocket = {
        maxDatagramSize: inner.maxDatagramSize,
        onDatagram: () => {},
        onClosed: () => {},
        send(data) {
          if (closed) return;
          if (upStream) upStream.push(data);
          else deliver(up, upRng, data, (d) => !closed && inner.send(d));
        },
        close() {
          closed = true;
          upStream?.close();
          downStream?.close();
          return inner.close();
        },
        get stats() {
          return inner.stats;
        },
      };
      toSocket = (d) => socket.onDatagram(d);
      inner.onDatagram = (data) => {
        if (downStream) downStream.push(data);
        else deliver(down, downRng, data, (d) => !closed && socket.onDatagram(d));
      };
      inner.onClosed = (reason) => socket.onClosed(reason);
      return socket;
    },
  };
}
