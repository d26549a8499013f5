import { describe, expect, it } from 'vitest';
import { DecodeError } from '../serde/DecodeError.js';
import { ManualClock } from '../util/Clock.js';
import { SeededRandom } from '../util/SeededRandom.js';
import { LinkConnection } from './LinkConnection.js';
import type { RecvChannel } from './receiveState.js';
import { createLinkPair, indexedPayload } from './testing/linkPair.js';
import { createTwins } from './testing/twins.js';
import type { ChannelConfig } from './types.js';
import { MODE_CODES, ParsedPacket, parsePacket } from './wire.js';

const DEEP = process.env.BATON_DEEP === '1';
const CHANNELS: ChannelConfig[] = [
  { mode: 'unreliable' },
  { mode: 'sequenced-unreliable' },
  { mode: 'unordered-reliable' },
  { mode: 'ordered-reliable' },
  { mode: 'sequenced-reliable' },
  { mode: 'tick-buffered' },
  { mode: 'ordered-reliable', direction: 'server-to-client' },
];
const MAX_PENDING = 64 * 1024;

/** Real packets of both directions from a lossy exchange on every mode, fragments included. */
function recordCorpus(): Uint8Array[] {
  const pair = createLinkPair({
    channels: CHANNELS,
    pipe: { seed: 4, loss: 0.2, duplicate: 0.1, latencyMs: 10 },
  });
  const corpus: Uint8Array[] = [];
  const tap = (link: LinkConnection) => {
    const receive = link.receive.bind(link);
    link.receive = (p) => {
      corpus.push(p.slice());
      receive(p);
    };
  };
  tap(pair.client);
  tap(pair.server);
  const rng = new SeededRandom(11);
  for (let i = 0; i < 200; i++) {
    const size = rng.chance(0.05) ? rng.int(1200, 5000) : rng.int(4, 60);
    for (let ch = 0; ch < 5; ch++) {
      pair.client.send(ch, indexedPayload(i, ch < 2 ? Math.min(size, 1000) : size));
      pair.server.send(ch, indexedPayload(i, ch < 2 ? Math.min(size, 1000) : size));
    }
    pair.client.send(5, indexedPayload(i, 8), i);
    pair.server.send(6, indexedPayload(i, 12));
    pair.step();
  }
  return corpus;
}

function mutate(rng: SeededRandom, corpus: Uint8Array[]): Uint8Array {
  if (rng.chance(0.2)) {
    const out = new Uint8Array(rng.int(0, 1300));
    for (let i = 0; i < out.length; i++) out[i] = rng.int(0, 255);
    if (out.length > 0 && rng.chance(0.8)) out[0] = rng.int(1, 2); // get past the type byte
    return out;
  }
  let p = corpus[rng.int(0, corpus.length - 1)].slice();
  const edits = rng.int(1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(0, Math.max(0, p.length - 1));
    switch (rng.int(0, 6)) {
      case 0: // flip a bit
        if (p.length > 0) p[at] ^= 1 << rng.int(0, 7);
        break;
      case 1: // set a byte
        if (p.length > 0) p[at] = rng.int(0, 255);
        break;
      case 2: // truncate
        p = p.slice(0, at);
        break;
      case 3: {
        // append junk
        const junk = Uint8Array.from({ length: rng.int(1, 40) }, () => rng.int(0, 255));
        const q = new Uint8Array(p.length + junk.length);
        q.set(p);
        q.set(junk, p.length);
        p = q;
        break;
      }
      case 4: {
        // splice another packet's tail after our head
        const other = corpus[rng.int(0, corpus.length - 1)];
        const cut = rng.int(9, Math.max(9, other.length));
        const q = new Uint8Array(at + other.length - Math.min(cut, other.length));
        q.set(p.subarray(0, at));
        q.set(other.subarray(Math.min(cut, other.length)), at);
        p = q;
        break;
      }
      case 5: // new sequence number: makes mutated packets look fresh
        if (p.length >= 3) {
          p[1] = rng.int(0, 255);
          p[2] = rng.int(0, 255);
        }
        break;
      default: // boundary values in a random spot
        if (p.length > 0) p[at] = [0x00, 0x7f, 0x80, 0xff, 0x01][rng.int(0, 4)];
    }
  }
  return p;
}

describe('malformed input', () => {
  const corpus = recordCorpus();

  it(`${DEEP ? '1 000 000' : '100 000'} random and mutated packets: only DecodeError escapes, state stays bounded`, () => {
    const clock = new ManualClock();
    const victim = new LinkConnection({
      channels: CHANNELS,
      role: 'server',
      send: () => {},
      clock,
      options: { maxPendingBytes: MAX_PENDING },
    });
    victim.onMessage = () => {};
    const rng = new SeededRandom(2024);
    const total = DEEP ? 1_000_000 : 100_000;
    let rejected = 0;
    let accepted = 0;
    const recv = (victim as unknown as { recvChannels: RecvChannel[] }).recvChannels;
    for (let i = 0; i < total; i++) {
      const packet = mutate(rng, corpus);
      try {
        victim.receive(packet);
        accepted++;
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        rejected++;
      }
      if (i % 97 === 0) {
        clock.advance(10);
        victim.flush();
        victim.takeTickMessages(i >>> 7);
      }
      if (i % 1000 === 0) {
        expect(victim.receiveBufferedBytes).toBeLessThanOrEqual(MAX_PENDING);
        expect(victim.receiveBufferedBytes).toBeGreaterThanOrEqual(0);
        expect(victim.tickBufferedMessages).toBeLessThanOrEqual(8192);
        for (const rc of recv) expect(rc.partials.size).toBeLessThanOrEqual(1024);
      }
    }
    expect(victim.stats.packetsDropped).toBe(rejected);
    // both kinds happened: the fuzzer reaches deep into the parser and into the state machine
    expect(rejected).toBeGreaterThan(total * 0.3);
    expect(accepted).toBeGreaterThan(total * 0.05);
    // the buffered-bytes accounting is exact: recompute it from the structures
    let held = 0;
    for (const rc of recv) {
      for (const part of rc.partials.values()) held += part.charge;
      if (rc.seqPartial) held += rc.seqPartial.charge;
      for (const b of rc.buffered) held += b?.length ?? 0;
    }
    expect(victim.receiveBufferedBytes).toBe(held);
  });

  it('a concurrent good exchange is unaffected by rejected garbage', () => {
    const t = createTwins(CHANNELS, { maxPendingBytes: MAX_PENDING });
    const modes = Uint8Array.from(CHANNELS.map((c) => MODE_CODES[c.mode]));
    const receivable = Uint8Array.from(CHANNELS.map((c) => (c.direction === 'server-to-client' ? 0 : 1)));
    const limits = { maxPacketBytes: 1200, maxMessageBytes: 256 * 1024, maxFragments: 8192 };
    const scratch = new ParsedPacket(1200);
    const isStructurallyValid = (p: Uint8Array) => {
      try {
        parsePacket(p, modes, receivable, limits, scratch);
        return true;
      } catch {
        return false;
      }
    };
    const rng = new SeededRandom(77);
    const lossy = new SeededRandom(78);
    let injected = 0;
    const rounds = DEEP ? 2000 : 400;
    for (let round = 0; round < rounds; round++) {
      for (let ch = 2; ch <= 4; ch++) t.a.send(ch, indexedPayload(round, rng.chance(0.05) ? 3000 : 20));
      t.a.send(5, indexedPayload(round, 8), round);
      // garbage the parser rejects, interleaved with the good traffic, into b only
      for (let k = 0; k < 50; k++) {
        const packet = mutate(rng, corpus);
        if (isStructurallyValid(packet)) continue;
        expect(() => t.b.receive(packet)).toThrow(DecodeError);
        injected++;
      }
      t.pump(() => lossy.chance(0.1));
    }
    for (let i = 0; i < 100; i++) t.pump();
    const tr = t.transcript();
    expect(tr.b).toEqual(tr.twin);
    expect(t.b.takeTickMessages(1e9)).toEqual(t.twin.takeTickMessages(1e9));
    expect(t.a.pendingBytes).toBe(0);
    expect(injected).toBeGreaterThan(rounds * 10);
    // and the good exchange itself was complete: every ordered message, in order
    const ordered = tr.b.got.filter((s) => s.startsWith('3:'));
    expect(ordered.length).toBe(rounds);
  });
});
