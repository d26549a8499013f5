import { ManualClock } from '../../util/Clock.js';
import { LinkConnection } from '../LinkConnection.js';
import type { ChannelConfig, LinkOptions } from '../types.js';
import { LossyPipe, type LossyPipeOptions } from './LossyPipe.js';

/** A client and a server link joined by a {@link LossyPipe}, stepped by hand. For tests. */
export interface LinkPair {
  clock: ManualClock;
  pipe: LossyPipe;
  client: LinkConnection;
  server: LinkConnection;
  /** Everything delivered through `onMessage`, per receiving side, in delivery order. */
  received: { client: Array<[number, Uint8Array]>; server: Array<[number, Uint8Array]> };
  /** Advance the clock one tick, deliver due datagrams, flush both sides. */
  step(): void;
  tickMs: number;
}

export function createLinkPair(args: {
  channels: readonly ChannelConfig[];
  pipe: LossyPipeOptions;
  options?: LinkOptions;
  clientOptions?: LinkOptions;
  serverOptions?: LinkOptions;
  tickMs?: number;
}): LinkPair {
  const clock = new ManualClock(0);
  const pipe = new LossyPipe(clock, args.pipe);
  const client = new LinkConnection({
    channels: args.channels,
    role: 'client',
    send: pipe.sender('a'),
    clock,
    options: { ...args.options, ...args.clientOptions },
  });
  const server = new LinkConnection({
    channels: args.channels,
    role: 'server',
    send: pipe.sender('b'),
    clock,
    options: { ...args.options, ...args.serverOptions },
  });
  pipe.attach(client, server);
  const received: LinkPair['received'] = { client: [], server: [] };
  client.onMessage = (channel, payload) => received.client.push([channel, payload]);
  server.onMessage = (channel, payload) => received.server.push([channel, payload]);
  const tickMs = args.tickMs ?? 10;
  return {
    clock,
    pipe,
    client,
    server,
    received,
    tickMs,
    step() {
      clock.advance(tickMs);
      pipe.deliverDue();
      client.flush();
      server.flush();
    },
  };
}

/**
 * Step until the client (and, with `both`, the server) has nothing reliable outstanding. Bounded:
 * a bug that never settles fails the test instead of hanging it (vitest cannot interrupt a
 * synchronous loop).
 */
export function drain(pair: LinkPair, maxSteps = 20_000, both = false): number {
  let steps = 0;
  while (pair.client.pendingBytes > 0 || (both && pair.server.pendingBytes > 0)) {
    if (++steps > maxSteps) throw new Error(`link did not settle within ${maxSteps} steps`);
    pair.step();
  }
  return steps;
}

/** A payload that names its index and can be checked byte for byte: [index u32 LE][pattern…]. */
export function indexedPayload(index: number, size: number): Uint8Array {
  const out = new Uint8Array(Math.max(4, size));
  out[0] = index & 0xff;
  out[1] = (index >>> 8) & 0xff;
  out[2] = (index >>> 16) & 0xff;
  out[3] = index >>> 24;
  for (let j = 4; j < out.length; j++) out[j] = (index * 31 + j * 7) & 0xff;
  return out;
}

/** Reads the index back, and throws if any byte differs from what {@link indexedPayload} wrote. */
export function checkIndexedPayload(payload: Uint8Array): number {
  if (payload.length < 4) throw new Error(`payload of ${payload.length} bytes`);
  const index = (payload[0] | (payload[1] << 8) | (payload[2] << 16) | (payload[3] << 24)) >>> 0;
  for (let j = 4; j < payload.length; j++) {
    if (payload[j] !== ((index * 31 + j * 7) & 0xff))
      throw new Error(`payload ${index} corrupt at byte ${j}`);
  }
  return index;
}
