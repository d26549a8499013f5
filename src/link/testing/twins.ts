import { ManualClock } from '../../util/Clock.js';
import { LinkConnection } from '../LinkConnection.js';
import type { ChannelConfig, LinkOptions } from '../types.js';

/**
 * A client `a` talking to two identical servers `b` and `twin` that receive exactly the same
 * good packets. Feeding a packet to `b` alone and then comparing what `b` and `twin` send and
 * deliver proves whether that packet changed `b`'s state. Only `b`'s replies reach `a`.
 */
export function createTwins(channels: readonly ChannelConfig[], options?: LinkOptions) {
  const clock = new ManualClock(0);
  const fromA: Uint8Array[] = [];
  const fromB: Uint8Array[] = [];
  const fromTwin: Uint8Array[] = [];
  const a = new LinkConnection({ channels, role: 'client', send: (p) => fromA.push(p), clock, options });
  const b = new LinkConnection({ channels, role: 'server', send: (p) => fromB.push(p), clock, options });
  const twin = new LinkConnection({
    channels,
    role: 'server',
    send: (p) => fromTwin.push(p),
    clock,
    options,
  });
  const got = { b: [] as string[], twin: [] as string[] };
  const hex = (ch: number, p: Uint8Array) => `${ch}:${Buffer.from(p).toString('hex')}`;
  b.onMessage = (ch, p) => got.b.push(hex(ch, p));
  twin.onMessage = (ch, p) => got.twin.push(hex(ch, p));
  let aSeen = 0;
  let bSeen = 0;
  return {
    clock,
    a,
    b,
    twin,
    got,
    fromB,
    fromTwin,
    /** One round: a flushes to both servers, both flush, b's packets reach a. */
    pump(dropFromA: (index: number) => boolean = () => false) {
      clock.advance(10);
      a.flush();
      for (; aSeen < fromA.length; aSeen++) {
        if (dropFromA(aSeen)) continue;
        b.receive(fromA[aSeen]);
        twin.receive(fromA[aSeen]);
      }
      b.flush();
      twin.flush();
      for (; bSeen < fromB.length; bSeen++) a.receive(fromB[bSeen]);
    },
    /** Everything b and its twin sent and delivered, as comparable strings. */
    transcript() {
      const h = (list: Uint8Array[]) => list.map((p) => Buffer.from(p).toString('hex'));
      return { b: { sent: h(fromB), got: got.b }, twin: { sent: h(fromTwin), got: got.twin } };
    },
  };
}

/** Hand-build a link packet: header fields, then raw message bytes. */
export function craftPacket(
  type: number,
  seq: number,
  ack: number,
  bits: number,
  ...messages: number[][]
): Uint8Array {
  const header = [
    type,
    seq & 0xff,
    seq >>> 8,
    ack & 0xff,
    ack >>> 8,
    bits & 0xff,
    (bits >>> 8) & 0xff,
    (bits >>> 16) & 0xff,
    bits >>> 24,
  ];
  return Uint8Array.from([...header, ...messages.flat()]);
}
