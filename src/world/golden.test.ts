import { describe, expect, it } from 'vitest';
import { BitReader } from '../serde/BitReader.js';
import { BitWriter } from '../serde/BitWriter.js';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import { ManualClock } from '../util/Clock.js';
import { entityRef } from './entityRef.js';
import { CmdType, decodeFrame, writeFrameHeader } from './frame.js';
import { ServerWorld } from './ServerWorld.js';

/** Golden bytes for docs/wire/world.md: change them only together with the document. */
const Position = component('Position', { x: t.f32, y: t.f32 });
const Health = component('Health', { hp: t.u8 });
const Follow = component('Follow', { target: entityRef });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function ackFrame(index: number, latest: number, bits = 0): Uint8Array {
  const w = new BitWriter();
  writeFrameHeader(w, index, { latest, bits });
  w.writeBool(false);
  w.writeBool(false);
  return w.finish();
}

describe('world frame golden bytes', () => {
  it('spawn, ack, update, insert+remove, despawn', () => {
    const clock = new ManualClock();
    const frames: Uint8Array[] = [];
    const sw = new ServerWorld<string>({ components: [Position, Health], clock });
    sw.addUser('a', { maxWorldFrameBytes: 1200, rttMs: 1000, sendWorldFrame: (f) => frames.push(f) });
    const room = sw.createRoom().addUser('a');
    const e = sw.spawn().insert(Position, { x: 1, y: 2 });
    room.addEntity(e);
    clock.advance(50);
    sw.step();
    // frame 0, no ack; command 0 = Spawn entity 0 with Position{x:1, y:2}
    expect(hex(frames[0])).toBe('000002000020000000e00f00000010');

    // the client's ack-only frame 0 acknowledging frame 0
    expect(hex(ackFrame(0, 0))).toBe('000001000000000000');
    expect(sw.receiveFrame('a', ackFrame(0, 0))).toBeNull();

    e.get(Position).y = -0.5;
    clock.advance(50);
    sw.step();
    // frame 1, ack of client frame 0; update entity 0, Position mask 0b10, y = -0.5
    expect(hex(frames[1])).toBe('010001000000000004200000c02f');

    e.insert(Health, { hp: 200 });
    e.remove(Position);
    clock.advance(50);
    sw.step();
    // frame 2: command 1 = Insert Health{hp:200}, command 2 = Remove Position
    expect(hex(frames[2])).toBe('0200010000000000060008207201800100');
    expect(sw.receiveFrame('a', ackFrame(1, 2, 0b11))).toBeNull();

    e.despawn();
    clock.advance(50);
    sw.step();
    // frame 3: command 3 = Despawn entity 0
    expect(hex(frames[3])).toBe('03000300020000000e000400');
    expect(frames).toHaveLength(4);

    const f3 = decodeFrame(new BitReader(frames[3]), sw.registry);
    expect(f3.ack).toEqual({ latest: 1, bits: 1 });
    expect(f3.commands).toEqual([{ wireId: 3, type: CmdType.Despawn, entity: 0 }]);
  });

  it('entity reference encoding', () => {
    const clock = new ManualClock();
    const frames: Uint8Array[] = [];
    const sw = new ServerWorld<string>({ components: [Follow], clock });
    sw.addUser('a', { maxWorldFrameBytes: 1200, rttMs: 1000, sendWorldFrame: (f) => frames.push(f) });
    const room = sw.createRoom().addUser('a');
    const target = sw.spawn();
    room.addEntity(target);
    room.addEntity(sw.spawn().insert(Follow, { target: target.id }));
    clock.advance(50);
    sw.step();
    // Spawn 0 (entity 0, no components), Spawn 1 (entity 1, Follow{target: sender-hosted 0})
    expect(hex(frames[0])).toBe('00000200000060000002020c00');
    const f = decodeFrame(new BitReader(frames[0]), sw.registry);
    expect(f.commands[1].components![0].values).toEqual([{ hostedBySender: true, id: 0 }]);
  });
});
