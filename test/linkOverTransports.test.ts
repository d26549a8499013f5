import { afterEach, describe, expect, it } from 'vitest';
import { LinkConnection, type TickMessage } from '../src/link/index.js';
import {
  ONE_CHANNEL_PER_MODE,
  ORDERED,
  SEQ_REL,
  SEQ_UNREL,
  TICK,
  UNORDERED,
  UNREL,
} from '../src/link/testing/channels.js';
import { checkIndexedPayload, indexedPayload } from '../src/link/testing/linkPair.js';
import type { LinkOptions } from '../src/link/types.js';
import { type LinkConditionerConfig, MemoryHub } from '../src/transport/browser.js';
import type { DatagramClientSocket, DatagramServerSocket, PeerId } from '../src/transport/types.js';
import { type Clock, ManualClock, systemClock } from '../src/util/Clock.js';
import { SeededRandom } from '../src/util/SeededRandom.js';
import { transportKits, waitFor } from './helpers/transports.js';

/**
 * Cross-layer scenarios: a client and a server `LinkConnection` (layer 2) over real layer-1
 * transports — the memory hub with its seeded link conditioner on a ManualClock (loss,
 * duplication, reordering, jitter; reproducible per seed), and real UDP and WebSocket sockets on
 * 127.0.0.1. Both directions carry every channel mode; each mode's guarantee is checked on what
 * arrives, byte for byte, including fragmented messages up to 50 KB.
 */

const CHANNELS = ONE_CHANNEL_PER_MODE;
const MTU = 1200; // the link default: anything above ~1175 bytes on a reliable channel is fragmented
const BIG = 50_000;

type Side = 'client' | 'server';
const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');

interface Plan {
  /** Messages per channel per direction. */
  count: number;
  /** Messages per channel per side per tick. */
  perTick: number;
  /** Index sent as a 50 KB message on unordered, ordered and tick-buffered channels. */
  bigIndex: number;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function strictlyIncreasing(xs: readonly number[]): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i] <= xs[i - 1]) return false;
  return true;
}

/**
 * What each side sent and received. The server only starts sending once it has heard from the
 * client (it learns the client's address from its first datagram, as a real server would).
 */
class Scenario {
  readonly received: Record<Side, Uint8Array[][]> = {
    client: CHANNELS.map(() => []),
    server: CHANNELS.map(() => []),
  };
  /** Size of each message sent, by side, channel and index. */
  readonly sizes: Record<Side, number[][]> = {
    client: CHANNELS.map(() => []),
    server: CHANNELS.map(() => []),
  };
  /** Tick-buffered: the tick each index was sent with, and what the server took. */
  readonly tickOf: number[] = [];
  readonly taken: TickMessage[] = [];
  private readonly next: Record<Side, number> = { client: 0, server: 0 };

  constructor(
    readonly links: Record<Side, LinkConnection>,
    private readonly plan: Plan,
    private readonly rng: SeededRandom,
  ) {
    links.client.onMessage = (channel, payload) => this.received.client[channel].push(payload);
    links.server.onMessage = (channel, payload) => this.received.server[channel].push(payload);
  }

  get doneSending(): boolean {
    return this.next.client >= this.plan.count && this.next.server >= this.plan.count;
  }

  /** Both directions sent everything and nothing reliable is outstanding on either end. */
  get settled(): boolean {
    return this.doneSending && this.links.client.pendingBytes === 0 && this.links.server.pendingBytes === 0;
  }

  private size(channel: number, index: number): number {
    const { count, bigIndex } = this.plan;
    if (channel === UNREL || channel === SEQ_UNREL) return this.rng.int(4, 300); // one packet at most
    // sequenced-reliable delivers only the newest: the big one goes last so nothing supersedes it
    if (channel === SEQ_REL ? index === count - 1 : index === bigIndex) return BIG;
    return this.rng.chance(0.06) ? this.rng.int(MTU + 100, 6000) : this.rng.int(4, 300);
  }

  /** Queues this tick's messages on every channel the side may send on. */
  sendTick(tick: number, serverReady: boolean): void {
    for (const side of ['client', 'server'] as const) {
      if (side === 'server' && !serverReady) continue;
      const link = this.links[side];
      for (let k = 0; k < this.plan.perTick && this.next[side] < this.plan.count; k++) {
        const index = this.next[side]++;
        for (let channel = 0; channel < CHANNELS.length; channel++) {
          if (channel === TICK && side === 'server') continue; // tick-buffered is client → server
          const size = this.size(channel, index);
          this.sizes[side][channel][index] = size;
          if (channel === TICK) {
            this.tickOf[index] = tick;
            link.send(channel, indexedPayload(index, size), tick);
          } else {
            link.send(channel, indexedPayload(index, size));
          }
        }
      }
    }
  }

  takeTicks(tick: number): void {
    this.taken.push(...this.links.server.takeTickMessages(tick));
  }

  /** Indices received by `receiver` on `channel`, each payload checked byte for byte and by size. */
  private indices(receiver: Side, channel: number): number[] {
    const sent = this.sizes[other(receiver)][channel];
    return this.received[receiver][channel].map((payload) => {
      const index = checkIndexedPayload(payload);
      expect(payload.length, `channel ${channel} message ${index}`).toBe(sent[index]);
      return index;
    });
  }

  /** Every mode's guarantee, on what each side received from the other. */
  verify(): void {
    const all = range(this.plan.count);
    for (const receiver of ['client', 'server'] as const) {
      const what = (mode: string) => `${mode} → ${receiver}`;
      const unrel = this.indices(receiver, UNREL);
      expect(new Set(unrel).size, what('unreliable: at most once')).toBe(unrel.length);
      expect(
        unrel.every((i) => i < this.plan.count),
        what('unreliable: only what was sent'),
      ).toBe(true);

      const seqUnrel = this.indices(receiver, SEQ_UNREL);
      expect(strictlyIncreasing(seqUnrel), what('sequenced-unreliable: never regresses')).toBe(true);

      const unordered = this.indices(receiver, UNORDERED);
      expect(
        [...unordered].sort((a, b) => a - b),
        what('unordered-reliable: exactly once'),
      ).toEqual(all);

      expect(this.indices(receiver, ORDERED), what('ordered-reliable: exactly once, in order')).toEqual(all);

      const seqRel = this.indices(receiver, SEQ_REL);
      expect(strictlyIncreasing(seqRel), what('sequenced-reliable: never regresses')).toBe(true);
      expect(seqRel.at(-1), what('sequenced-reliable: the newest arrives')).toBe(this.plan.count - 1);

      // fragmented messages were sent and reassembled (sizes were checked above)
      const delivered = [UNORDERED, ORDERED, SEQ_REL].flatMap((c) => this.received[receiver][c]);
      expect(delivered.some((p) => p.length === BIG)).toBe(true);
      expect(delivered.filter((p) => p.length > MTU).length).toBeGreaterThan(2);
    }

    expect(this.received.server[TICK], 'tick-buffered goes to the tick buffer, not onMessage').toEqual([]);
    const ticked = this.taken.map((m) => {
      expect(m.channel).toBe(TICK);
      const index = checkIndexedPayload(m.payload);
      expect(m.payload.length).toBe(this.sizes.client[TICK][index]);
      expect(m.tick, `tick of message ${index}`).toBe(this.tickOf[index]);
      return index;
    });
    expect(
      ticked.sort((a, b) => a - b),
      'tick-buffered: exactly once',
    ).toEqual(all);
    for (const side of ['client', 'server'] as const) {
      const stats = this.links[side].stats;
      expect(stats.packetsDropped, `${side}: no packet rejected`).toBe(0);
      expect(stats.tickMessagesDropped).toBe(0);
    }
  }
}

/** Wires a link pair onto a connected server/client socket pair. */
function linkUp(
  serverSocket: DatagramServerSocket,
  clientSocket: DatagramClientSocket,
  clock: Clock,
  options: LinkOptions,
  onError: (error: unknown) => void,
) {
  let peer: PeerId | undefined;
  const server = new LinkConnection({
    channels: CHANNELS,
    role: 'server',
    clock,
    options,
    send: (packet) => {
      if (peer !== undefined) serverSocket.send(peer, packet);
    },
  });
  const client = new LinkConnection({
    channels: CHANNELS,
    role: 'client',
    clock,
    options,
    send: (packet) => clientSocket.send(packet),
  });
  const guard = (f: () => void) => {
    try {
      f();
    } catch (error) {
      onError(error);
    }
  };
  serverSocket.onDatagram = (from, data) => {
    peer ??= from;
    if (from === peer) guard(() => server.receive(data));
  };
  clientSocket.onDatagram = (data) => guard(() => client.receive(data));
  return { links: { client, server }, serverReady: () => peer !== undefined };
}

interface HubCase {
  seed: number;
  conditioner: LinkConditionerConfig;
}

const LOSSLESS: LinkConditionerConfig = { latencyMs: 5 };
const HUB_CASES: HubCase[] = [
  { seed: 1, conditioner: LOSSLESS },
  { seed: 2, conditioner: { latencyMs: 10, jitterMs: 5, loss: 0.05, duplicate: 0.05, reorder: 0.1 } },
  { seed: 3, conditioner: { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.1, reorder: 0.2 } },
  { seed: 4, conditioner: { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.1, reorder: 0.2 } },
  { seed: 5, conditioner: { latencyMs: 30, jitterMs: 30, loss: 0.3, duplicate: 0.2, reorder: 0.3 } },
  { seed: 6, conditioner: { latencyMs: 30, jitterMs: 30, loss: 0.3, duplicate: 0.2, reorder: 0.3 } },
  { seed: 7, conditioner: { latencyMs: 0, jitterMs: 30, loss: 0.3, duplicate: 0.3, reorder: 0.3 } },
  // asymmetric: a bad uplink, a clean downlink
  { seed: 8, conditioner: { latencyMs: 15, toServer: { loss: 0.3, jitterMs: 20, reorder: 0.3 } } },
];

const HUB_TICK_MS = 10;

describe('LinkConnection over the memory hub (seeded conditioner, ManualClock)', () => {
  for (const { seed, conditioner } of HUB_CASES) {
    it(`seed ${seed}: ${JSON.stringify(conditioner)}`, async () => {
      const clock = new ManualClock(0);
      const hub = new MemoryHub({ clock, seed, conditioner });
      try {
        const serverSocket = await hub.server().listen();
        const clientSocket = await hub.client(serverSocket.address).connect();
        // handler errors are rethrown from hub.advance() in manual mode: a DecodeError fails here
        const rig = linkUp(serverSocket, clientSocket, clock, {}, (error) => {
          throw error;
        });
        const plan: Plan = { count: 200, perTick: 4, bigIndex: 100 };
        const sc = new Scenario(rig.links, plan, new SeededRandom(seed * 7919));
        let tick = 0;
        const step = () => {
          sc.sendTick(tick, rig.serverReady());
          rig.links.client.flush();
          rig.links.server.flush();
          hub.advance(HUB_TICK_MS);
          tick++;
          sc.takeTicks(tick);
        };
        for (let i = 0; !sc.doneSending; i++) {
          if (i > 5000) throw new Error('the scenario did not finish sending');
          step();
        }
        for (let i = 0; !sc.settled; i++) {
          if (i > 5000) throw new Error('link did not settle in 50 simulated seconds');
          step();
        }
        for (let i = 0; i < 20; i++) step(); // unreliable stragglers (≤ 110 ms late here)
        sc.verify();

        // the conditioner really misbehaved, and the link really had to work around it
        const [link] = hub.links();
        const { client, server } = rig.links;
        const c = conditioner;
        if ((c.loss ?? 0) > 0) {
          expect(link.counters.toClient.dropped + link.counters.toServer.dropped).toBeGreaterThan(0);
          expect(client.stats.messagesResent + server.stats.messagesResent).toBeGreaterThan(0);
        }
        if ((c.duplicate ?? 0) > 0) {
          expect(client.stats.packetsDuplicate + server.stats.packetsDuplicate).toBeGreaterThan(0);
        }
        if (c === LOSSLESS) {
          // nothing lost or reordered: every unreliable message arrived unless its flush dropped it
          for (const receiver of ['client', 'server'] as const) {
            const got = sc.received[receiver][UNREL].length + sc.received[receiver][SEQ_UNREL].length;
            const dropped = rig.links[other(receiver)].stats.messagesDropped;
            expect(got + dropped).toBe(2 * plan.count);
          }
          expect(client.stats.messagesResent + server.stats.messagesResent).toBe(0);
        }
        expect(client.timedOut || server.timedOut).toBe(false);
      } finally {
        await hub.close();
      }
    });
  }
});

const SOCKET_TICK_MS = 5;

describe('LinkConnection over real sockets on 127.0.0.1', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  for (const makeKit of transportKits()) {
    const kit = makeKit();
    if (kit.name !== 'udp' && kit.name !== 'websocket') {
      void kit.close(); // the memory hub is covered above, on a ManualClock
      continue;
    }
    it(`${kit.name}: a few hundred messages per mode both ways, incl. 50 KB fragmented ones`, async () => {
      cleanup.push(() => kit.close());
      const serverSocket = await kit.server().listen();
      cleanup.push(() => serverSocket.close());
      const clientSocket = await kit.client(serverSocket.address).connect();
      cleanup.push(() => clientSocket.close());
      const errors: unknown[] = [];
      const rig = linkUp(serverSocket, clientSocket, systemClock, {}, (error) => errors.push(error));
      const plan: Plan = { count: 300, perTick: 10, bigIndex: 150 };
      const sc = new Scenario(rig.links, plan, new SeededRandom(42));
      let tick = 0;
      // a game loop: queue this tick's messages, flush both ends, hand out due tick messages
      const timer = setInterval(() => {
        try {
          sc.sendTick(tick, rig.serverReady());
          rig.links.client.flush();
          rig.links.server.flush();
          tick++;
          sc.takeTicks(tick);
        } catch (error) {
          errors.push(error);
        }
      }, SOCKET_TICK_MS);
      cleanup.push(() => clearInterval(timer));

      const settled = await waitFor(() => sc.settled || errors.length > 0, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 50)); // unreliable stragglers
      clearInterval(timer);
      sc.takeTicks(tick);
      expect(errors).toEqual([]);
      expect(settled).toBe(true);
      sc.verify();
      for (const receiver of ['client', 'server'] as const) {
        // loopback may drop a datagram under load, but the unreliable channels must carry traffic
        expect(sc.received[receiver][UNREL].length).toBeGreaterThan(0);
        expect(sc.received[receiver][SEQ_UNREL].length).toBeGreaterThan(0);
      }
    });
  }
});
