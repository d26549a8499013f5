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
 * One direction of a stream. Datagrams wait in one FIFO drained by one timer, so each arrives
 * no sooner than, and never before, the one sent before it (separate timers could fire out of
 * order, and a datagram due "now" must not overtake earlier ones still waiting).
 */
interface StreamOrder {
  releaseAt: number;
  readonly queue: { at: number; data: Uint8Array; to: (d: Uint8Array) => void }[];
  timer?: ReturnType<typeof setTimeout>;
}

function streamOrder(): StreamOrder {
  return { releaseAt: 0, queue: [] };
}

function drainStream(order: StreamOrder): void {
  order.timer = undefined;
  const now = Date.now();
  let i = 0;
  while (i < order.queue.length && order.queue[i].at <= now) {
    const { data, to } = order.queue[i++];
    to(data);
  }
  order.queue.splice(0, i);
  if (order.queue.length > 0)
    order.timer = setTimeout(() => drainStream(order), Math.max(0, order.queue[0].at - now));
}

function streamDeliver(
  c: LinkConditions,
  rng: SeededRandom,
  model: StreamLossModel,
  order: StreamOrder,
  data: Uint8Array,
  to: (d: Uint8Array) => void,
): void {
  const delays = planDelivery(c, rng);
  // a stream never duplicates; a loss is a resend
  const delay = delays.length === 0 ? c.latencyMs + model.resendMs : delays[0];
  const now = Date.now();
  const at = Math.max(now + delay, order.releaseAt);
  order.releaseAt = at;
  if (at <= now && order.queue.length === 0) {
    to(data);
    return;
  }
  order.queue.push({ at, data: data.slice(), to });
  if (order.timer === undefined)
    order.timer = setTimeout(() => drainStream(order), Math.max(0, order.queue[0].at - now));
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
      const upOrder = streamOrder();
      const downOrder = streamOrder();
      const plan = (
        c: LinkConditions,
        rng: SeededRandom,
        order: StreamOrder,
        data: Uint8Array,
        to: (d: Uint8Array) => void,
      ) => (stream ? streamDeliver(c, rng, stream, order, data, to) : deliver(c, rng, data, to));
      const socket: DatagramClientSocket = {
        maxDatagramSize: inner.maxDatagramSize,
        onDatagram: () => {},
        onClosed: () => {},
        send(data) {
          if (!closed) plan(up, upRng, upOrder, data, (d) => !closed && inner.send(d));
        },
        close() {
          closed = true;
          for (const o of [upOrder, downOrder]) {
            if (o.timer !== undefined) clearTimeout(o.timer);
            o.queue.length = 0;
          }
          return inner.close();
        },
        get stats() {
          return inner.stats;
        },
      };
      inner.onDatagram = (data) =>
        plan(down, downRng, downOrder, data, (d) => !closed && socket.onDatagram(d));
      inner.onClosed = (reason) => socket.onClosed(reason);
      return socket;
    },
  };
}
