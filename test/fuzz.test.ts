import { describe, expect, it } from 'vitest';
import type { MemoryClientSocket } from '../src/transport/browser.js';
import type { DatagramClientSocket, DatagramClientTransport } from '../src/transport/types.js';
import { SeededRandom } from '../src/util/SeededRandom.js';
import { Chat } from './helpers/protocol.js';
import { connectDatagrams, RawPeer } from './helpers/rawPeer.js';
import { Sim } from './helpers/sim.js';

const TOTAL = process.env.BATON_DEEP === '1' ? 1_000_000 : 100_000;

/** Wraps a client transport so every datagram the client sends is also recorded. */
function recording(inner: DatagramClientTransport, sink: Uint8Array[]): DatagramClientTransport {
  return {
    kind: inner.kind,
    async connect(): Promise<DatagramClientSocket> {
      const socket = await inner.connect();
      const send = socket.send.bind(socket);
      socket.send = (data) => {
        if (sink.length < 2000) sink.push(Uint8Array.from(data));
        send(data);
      };
      return socket;
    },
  };
}

describe('fuzzing a running server', () => {
  it(`survives ${TOTAL} random and mutated packets while a good client keeps talking`, async () => {
    const maxPending = 64;
    const sim = await new Sim({
      seed: 9,
      server: { maxPendingHandshakes: maxPending, handshakeTimeoutMs: 1000, lingerMs: 200 },
    }).listen();
    const captured: Uint8Array[] = [];
    const good = sim.client();
    const r = await sim.settleWithin(
      good.connect(recording(sim.hub.client(sim.address), captured), { username: 'good' }),
    );
    expect(r.error).toBeUndefined();
    const goodUser = sim.server.users[0];

    // Samples to mutate: the good client's real packets (Connect fragments and link packets,
    // the latter carrying control and data messages) and a multi-fragment Connect.
    const samples = [...captured, ...connectDatagrams({ referralData: new Uint8Array(3000).fill(7) }, 5)];
    expect(samples.some((d) => d[0] < 0x40)).toBe(true);
    expect(samples.some((d) => d[0] === 0x40)).toBe(true);

    const attackers: RawPeer[] = [];
    for (let i = 0; i < 24; i++) attackers.push(await RawPeer.open(sim.hub.client(sim.address)));
    // some attackers hold a real (pending) session so mutated link packets reach a link
    for (let i = 0; i < 8; i++) attackers[i].connect({}, 1000 + i);

    const rng = new SeededRandom(1234);
    const mutate = (src: Uint8Array): Uint8Array => {
      switch (rng.int(0, 5)) {
        case 0: {
          // random bytes, any first byte
          const out = new Uint8Array(rng.int(0, 1300));
          for (let i = 0; i < out.length; i++) out[i] = rng.int(0, 255);
          return out;
        }
        case 1:
          return src.subarray(0, rng.int(0, src.length)); // truncation
        case 2: {
          const out = Uint8Array.from(src); // bit flips
          for (let k = rng.int(1, 4); k > 0; k--) out[rng.int(0, out.length - 1)] ^= 1 << rng.int(0, 7);
          return out;
        }
        case 3: {
          const out = Uint8Array.from(src); // random byte overwrite, header-heavy
          const span = Math.min(out.length, 16);
          for (let k = rng.int(1, 3); k > 0; k--) out[rng.int(0, span - 1)] = rng.int(0, 255);
          return out;
        }
        case 4: {
          const extra = new Uint8Array(rng.int(1, 64)).map(() => rng.int(0, 255)); // extension
          return Uint8Array.from([...src, ...extra]);
        }
        default:
          return Uint8Array.from(src); // replay as is
      }
    };

    const perTick = 1000;
    const received: string[] = [];
    good.onMessage(Chat, (v) => received.push(v.text));
    const echoed: string[] = [];
    sim.server.onMessage(Chat, (u, v) => {
      if (u === goodUser) {
        echoed.push(v.text);
        sim.server.send(u, 'chat', Chat, { from: 0, text: v.text });
      }
    });
    let sent = 0;
    let maxPendingSeen = 0;
    let maxReassembly = 0;
    let tickNo = 0;
    let reconnects = 0;
    while (sent < TOTAL) {
      for (let i = 0; i < perTick && sent < TOTAL; i++, sent++) {
        const slot = rng.int(0, attackers.length - 1);
        if (!(attackers[slot].socket as MemoryClientSocket).link.open) {
          // the server dropped that peer (closed its session): the attacker reconnects
          await attackers[slot].close();
          attackers[slot] = await RawPeer.open(sim.hub.client(sim.address));
          reconnects++;
        }
        const attacker = attackers[slot];
        attacker.send(mutate(samples[rng.int(0, samples.length - 1)]));
      }
      good.send('chat', Chat, { from: 0, text: `m${tickNo++}` });
      await sim.tick(); // throws if any handler threw (manual hub rethrows)
      const st = sim.server.stats;
      maxPendingSeen = Math.max(maxPendingSeen, st.pendingHandshakes);
      maxReassembly = Math.max(maxReassembly, st.reassembly.bytes);
    }
    await sim.tick(50);

    const stats = sim.server.stats;
    if (process.env.BATON_FUZZ_DEBUG) console.log(JSON.stringify({ stats, reconnects, maxPendingSeen }));
    expect(sent).toBe(TOTAL);
    expect(stats.datagramsIn).toBeGreaterThanOrEqual(TOTAL);
    expect(stats.dropped.malformed + stats.dropped.unknownPeer).toBeGreaterThan(TOTAL / 4);
    expect(stats.dropped.internalErrors).toBe(0);
    expect(reconnects).toBeGreaterThan(0);
    expect(stats.handshakesStarted).toBeGreaterThan(0);
    expect(maxPendingSeen).toBeLessThanOrEqual(maxPending);
    expect(maxReassembly).toBeLessThanOrEqual(256 * 1024);
    expect(stats.reassembly.entries).toBeLessThanOrEqual(64);
    // the good client never noticed
    expect(good.connected).toBe(true);
    expect(goodUser.connected).toBe(true);
    expect(sim.server.users.filter((u) => u.username === 'good')).toHaveLength(1);
    const expected = Array.from({ length: tickNo }, (_, i) => `m${i}`);
    expect(echoed).toEqual(expected);
    expect(received).toEqual(expected);
    for (const a of attackers) await a.close();
    await sim.close();
  }, 90_000);
});
