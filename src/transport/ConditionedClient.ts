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
 * `transport` with the conditioner on each socket it opens. `seed` makes the losses
 * reproducible for the same sequence of datagrams.
 */
export function conditionedClient(
  transport: DatagramClientTransport,
  config: LinkConditionerConfig,
  seed = 1,
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
      const socket: DatagramClientSocket = {
        maxDatagramSize: inner.maxDatagramSize,
        onDatagram: () => {},
        onClosed: () => {},
        send(data) {
          if (!closed) deliver(up, upRng, data, (d) => !closed && inner.send(d));
        },
        close() {
          closed = true;
          return inner.close();
        },
        get stats() {
          return inner.stats;
        },
      };
      inner.onDatagram = (data) => deliver(down, downRng, data, (d) => !closed && socket.onDatagram(d));
      inner.onClosed = (reason) => socket.onClosed(reason);
      return socket;
    },
  };
}
