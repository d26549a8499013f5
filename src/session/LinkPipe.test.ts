import { describe, expect, it } from 'vitest';
import { LinkPipe } from './LinkPipe.js';
import type { LinkLike } from './linkTypes.js';

function fakeLink() {
  const sent: [number, number[], number | undefined][] = [];
  const link: LinkLike = {
    send: (channel, payload, tick) => sent.push([channel, [...payload], tick]),
    receive: () => {},
    onMessage: () => {},
    takeTickMessages: (tick) => [
      { channel: 3, tick, payload: Uint8Array.of(1) },
      { channel: 0, tick, payload: Uint8Array.of(2) }, // control: never handed out
    ],
    flush: () => {},
    rttMs: 42,
    timedOut: false,
  };
  return { link, sent };
}

describe('LinkPipe', () => {
  it('maps world frames to link channel 1 and protocol channels to 2 + i', () => {
    const { link, sent } = fakeLink();
    const pipe = new LinkPipe(link, 2, 100);
    pipe.sendWorldFrame(Uint8Array.of(9));
    pipe.sendMessage(0, Uint8Array.of(1));
    pipe.sendMessage(1, Uint8Array.of(2), 77);
    expect(sent).toEqual([
      [1, [9], undefined],
      [2, [1], undefined],
      [3, [2], 77],
    ]);
    expect(pipe.rttMs).toBe(42);
    expect(() => pipe.sendMessage(2, Uint8Array.of(1))).toThrow(RangeError);
    expect(() => pipe.sendWorldFrame(new Uint8Array(101))).toThrow(RangeError);
  });

  it('delivers to the owner with protocol indices and refuses foreign channels', () => {
    const { link } = fakeLink();
    const pipe = new LinkPipe(link, 2, 100);
    const got: unknown[] = [];
    pipe.onWorldFrame = (f) => got.push(['frame', [...f]]);
    pipe.onMessage = (c, p) => got.push([c, [...p]]);
    expect(pipe.deliver(1, Uint8Array.of(5))).toBe(true);
    expect(pipe.deliver(3, Uint8Array.of(6))).toBe(true);
    expect(pipe.deliver(4, Uint8Array.of(7))).toBe(false);
    expect(pipe.deliver(0, Uint8Array.of(8))).toBe(false);
    expect(got).toEqual([
      ['frame', [5]],
      [1, [6]],
    ]);
    expect(pipe.takeTickMessages(10)).toEqual([{ channel: 1, tick: 10, payload: Uint8Array.of(1) }]);
  });
});
