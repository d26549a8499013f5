import { describe, expect, it } from 'vitest';
import { BitReader } from '../serde/BitReader.js';
import { BitWriter } from '../serde/BitWriter.js';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import { ManualClock } from '../util/Clock.js';
import { ClientWorld } from './ClientWorld.js';
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
  w.writeBool(false); // no commands
  w.writeBool(false); // no updates
  w.writeBool(false); // no held updates
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
    expect(hex(frames[0])).toBe('000002000040000000c01f0000002000');

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
    expect(hex(frames[2])).toBe('020001000000000006000840e402000300');
    expect(sw.receiveFrame('a', ackFrame(1, 2, 0b11))).toBeNull();

    e.despawn();
    clock.advance(50);
    sw.step();
    // frame 3: command 3 = Despawn entity 0
    expect(hex(frames[3])).toBe('03000300020000000e00040000');
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
    expect(hex(frames[0])).toBe('000002000000c000000808300000');
    const f = decodeFrame(new BitReader(frames[0]), sw.registry);
    expect(f.commands[1].components![0].values).toEqual([{ hostedBySender: true, id: 0 }]);
  });
});

describe('world frame golden bytes: delegation (docs/wire/world.md)', () => {
  it('Delegation, MigrateResponse, held update, Authority with resync, AuthorityRequest', () => {
    const clock = new ManualClock();
    const up: Uint8Array[] = [];
    const down: Uint8Array[] = [];
    const sw = new ServerWorld<string>({ components: [Position, Health], clock, allowClientEntities: true });
    const room = sw.createRoom();
    sw.on('spawn', (e) => room.addEntity(e));
    sw.addUser('a', { maxWorldFrameBytes: 1200, rttMs: 1000, sendWorldFrame: (f) => down.push(f) });
    room.addUser('a');
    const cw = new ClientWorld({
      components: [Position, Health],
      clock,
      allowClientEntities: true,
      pipe: { maxWorldFrameBytes: 1200, rttMs: 1000, sendWorldFrame: (f) => up.push(f) },
    });
    const mine = cw.spawn().insert(Health, { hp: 200 });
    mine.configureReplication('delegated');
    clock.advance(50);
    cw.step();
    // client frame 0: Spawn (cmd 0) entity 0 Health{200}, Publish (cmd 1), Delegation (cmd 2) on
    expect(hex(up[0])).toBe(GOLDEN.clientDelegates);
    const c0 = decodeFrame(new BitReader(up[0]), sw.registry);
    expect(c0.commands.map((c) => [c.wireId, c.type, c.entity, c.arg])).toEqual([
      [0, CmdType.Spawn, 0, undefined],
      [1, CmdType.Publish, 0, undefined],
      [2, CmdType.Delegation, 0, 1],
    ]);
    expect(sw.receiveFrame('a', up[0])).toBeNull();
    clock.advance(50);
    sw.step();
    // server frame 0: ack of client frame 0; MigrateResponse (cmd 0): new id 0, old id 0
    expect(hex(down[0])).toBe(GOLDEN.migrateResponse);
    const s0 = decodeFrame(new BitReader(down[0]), sw.registry);
    expect(s0.commands).toEqual([{ wireId: 0, type: CmdType.MigrateResponse, entity: 0, arg: 0 }]);
    expect(cw.receiveFrame(down[0])).toBeNull();
    expect(mine.authority).toBe('granted');
    mine.get(Health).hp = 7;
    clock.advance(50);
    cw.step();
    // client frame 1: ack of server frame 0; held update: entity 0 (the server's id), Health, mask 1, hp 7
    expect(hex(up[1])).toBe(GOLDEN.heldUpdate);
    const c1 = decodeFrame(new BitReader(up[1]), sw.registry);
    expect(c1.updates).toEqual([]);
    expect(c1.held.map((u) => [u.entity, u.kind.name, u.mask, u.values[0]])).toEqual([[0, 'Health', 1, 7]]);
    expect(sw.receiveFrame('a', up[1])).toBeNull();
    const se = [...sw.entities()][0];
    expect(se.get(Health).hp).toBe(7);
    se.takeAuthority();
    clock.advance(50);
    sw.step();
    // server frame 1: Authority (cmd 1) entity 0: denied, with the resync kinds {Health} and hp 7
    expect(hex(down[1])).toBe(GOLDEN.authorityResync);
    const s1 = decodeFrame(new BitReader(down[1]), sw.registry);
    expect(s1.commands[0]).toMatchObject({ wireId: 1, type: CmdType.Authority, entity: 0, arg: 2 });
    expect(s1.commands[0].kinds!.map((k) => k.name)).toEqual(['Health']);
    // …with the server's values of those kinds: the former holder never shows a default
    expect(s1.commands[0].components!.map((c) => [c.kind.name, c.values])).toEqual([['Health', [7]]]);
    expect(cw.receiveFrame(down[1])).toBeNull();
    expect(mine.authority).toBe('denied');
    mine.requestAuthority();
    clock.advance(50);
    cw.step();
    // client frame 2: AuthorityRequest (cmd 3) naming the server's entity 0, release = 0
    expect(hex(up[2])).toBe(GOLDEN.authorityRequest);
    const c2 = decodeFrame(new BitReader(up[2]), sw.registry);
    expect(c2.commands).toEqual([{ wireId: 3, type: CmdType.AuthorityRequest, entity: 0, arg: 0 }]);
  });
});

const GOLDEN = {
  clientDelegates: '00000200004040e40100045000c00002',
  migrateResponse: '0000010000000000020024000000',
  heldUpdate: '010001000000000008f001',
  authorityResync: '010003000200000006001c803d00',
  authorityRequest: '02000300020000000e00200000',
};
