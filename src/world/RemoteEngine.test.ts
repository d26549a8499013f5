import { describe, expect, it } from 'vitest';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import { SeededRandom } from '../util/SeededRandom.js';
import type { AuthOp } from './AuthChannel.js';
import { type ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { Entity, type EntityWorld } from './Entity.js';
import { CmdType, type InCommand } from './frame.js';
import { RemoteEngine, type RemoteEntityChannel, type RemoteSink } from './RemoteEngine.js';

const A = component('A', { v: t.u8 });
const B = component('B', { w: t.u8 });
const reg = new ComponentRegistry([A, B]);
const [KA, KB] = reg.kinds;

/** Records what the engine applies, in order. */
class Recorder implements RemoteSink {
  log: string[] = [];
  private n = 0;
  private readonly world = { registry: reg } as unknown as EntityWorld;
  spawn(ch: RemoteEntityChannel, comps: { kind: ComponentKind }[]): Entity {
    this.log.push(`spawn ${ch.remoteId} [${comps.map((c) => c.kind.name).join(',')}]`);
    return new Entity(++this.n, this.world);
  }
  despawn(ch: RemoteEntityChannel): void {
    this.log.push(`despawn ${ch.remoteId}`);
  }
  insert(ch: RemoteEntityChannel, _e: Entity, comp: { kind: ComponentKind; values: unknown[] }): void {
    this.log.push(`insert ${ch.remoteId} ${comp.kind.name}=${comp.values[0]}`);
  }
  remove(ch: RemoteEntityChannel, _e: Entity, kind: ComponentKind): void {
    this.log.push(`remove ${ch.remoteId} ${kind.name}`);
  }
  publicity(ch: RemoteEntityChannel, _e: Entity, op: AuthOp): void {
    this.log.push(`${op} ${ch.remoteId}`);
  }
  migrate(ch: RemoteEntityChannel, oldId: number): Entity | null {
    this.log.push(`migrate ${oldId} → ${ch.remoteId}`);
    return new Entity(++this.n, this.world);
  }
  migrationRequested(ch: RemoteEntityChannel): void {
    this.log.push(`delegate ${ch.remoteId}`);
  }
}

const spawn = (entity: number, kinds: ComponentKind[] = []): Omit<InCommand, 'wireId'> => ({
  type: CmdType.Spawn,
  entity,
  components: kinds.map((kind) => ({ kind, values: [0] })),
});
const despawn = (entity: number): Omit<InCommand, 'wireId'> => ({ type: CmdType.Despawn, entity });
const insert = (entity: number, kind: ComponentKind, v = 0): Omit<InCommand, 'wireId'> => ({
  type: CmdType.Insert,
  entity,
  component: { kind, values: [v] },
});
const remove = (entity: number, kind: ComponentKind): Omit<InCommand, 'wireId'> => ({
  type: CmdType.Remove,
  entity,
  kind,
});

/** Deliver commands (exact id → command) to an engine in the given order, through dedupe. */
function deliver(engine: RemoteEngine, cmds: Map<number, Omit<InCommand, 'wireId'>>, order: number[]): void {
  for (const id of order) {
    const c = cmds.get(id)!;
    const full = engine.accept(id & 0xffff);
    if (full < 0) continue;
    expect(full).toBe(id);
    engine.handle({ id: full, frame: 0, cmd: { ...c, wireId: id & 0xffff } });
  }
}

function run(cmds: [number, Omit<InCommand, 'wireId'>][], order: number[]) {
  const rec = new Recorder();
  const engine = new RemoteEngine(rec);
  deliver(engine, new Map(cmds), order);
  return { rec, engine };
}

describe('RemoteEngine causal order', () => {
  it('despawn arriving before its spawn waits, then both apply in order', () => {
    const { rec, engine } = run(
      [
        [0, spawn(7, [KA])],
        [1, despawn(7)],
      ],
      [1, 0],
    );
    expect(rec.log).toEqual(['spawn 7 [A]', 'despawn 7']);
    expect(engine.bufferedCount()).toBe(0);
  });

  it('insert arriving before spawn waits for the spawn', () => {
    const { rec } = run(
      [
        [0, spawn(3)],
        [1, insert(3, KB, 5)],
      ],
      [1, 0],
    );
    expect(rec.log).toEqual(['spawn 3 []', 'insert 3 B=5']);
  });

  it('dense insert/remove/insert toggles end in the sender final state for every arrival order', () => {
    const cmds: [number, Omit<InCommand, 'wireId'>][] = [[0, spawn(1, [KA])]];
    let id = 1;
    for (let i = 0; i < 6; i++) {
      cmds.push([id++, remove(1, KA)]);
      cmds.push([id++, insert(1, KA, i)]);
    }
    cmds.push([id++, remove(1, KA)]);
    cmds.push([id++, insert(1, KA, 99)]);
    const rnd = new SeededRandom(42);
    for (let trial = 0; trial < 300; trial++) {
      const order = cmds.map(([i]) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rnd.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      // with duplicates sprinkled in
      order.push(order[rnd.int(0, order.length - 1)]);
      const { rec, engine } = run(cmds, order);
      // the final applied operation is the newest insert, and the state alternates legally
      expect(rec.log.at(-1)).toBe('insert 1 A=99');
      let inserted = false;
      for (const line of rec.log) {
        if (line.startsWith('spawn')) inserted = true;
        else if (line.startsWith('insert')) {
          expect(inserted).toBe(false);
          inserted = true;
        } else if (line.startsWith('remove')) {
          expect(inserted).toBe(true);
          inserted = false;
        }
      }
      expect(engine.channels.get(1)!.hasComponent(KA.index)).toBe(true);
      expect(engine.bufferedCount()).toBe(0);
    }
  });

  it("one entity's missing command never delays another entity", () => {
    const rec = new Recorder();
    const engine = new RemoteEngine(rec);
    const cmds = new Map<number, Omit<InCommand, 'wireId'>>([
      [0, spawn(1)],
      [1, insert(1, KA, 1)],
      [2, spawn(2)],
      [3, insert(2, KA, 2)],
    ]);
    // entity 1's spawn (id 0) is lost for now
    deliver(engine, cmds, [1, 2, 3]);
    expect(rec.log).toEqual(['spawn 2 []', 'insert 2 A=2']);
    deliver(engine, cmds, [0]);
    expect(rec.log.slice(2)).toEqual(['spawn 1 []', 'insert 1 A=1']);
  });

  it('command ids wrap past 65535 without confusing order or dedupe', () => {
    const rec = new Recorder();
    const engine = new RemoteEngine(rec);
    const cmds = new Map<number, Omit<InCommand, 'wireId'>>();
    cmds.set(0, spawn(1, [KA]));
    const N = 70_000;
    for (let id = 1; id < N; id++) cmds.set(id, id % 2 === 1 ? remove(1, KA) : insert(1, KA, id % 251));
    // deliver in windows of 64, each window reversed (so every id arrives before its predecessor)
    const order: number[] = [];
    for (let base = 0; base < N; base += 64) {
      for (let id = Math.min(N, base + 64) - 1; id >= base; id--) order.push(id);
      if (base >= 64) order.push(base - 1); // a late duplicate from the previous window
    }
    deliver(engine, cmds, order);
    expect(engine.receivedUpTo).toBe(N - 1);
    expect(engine.duplicates).toBeGreaterThan(1000);
    const last = N - 1; // odd → remove
    expect(last % 2).toBe(1);
    expect(engine.channels.get(1)!.hasComponent(KA.index)).toBe(false);
    expect(engine.bufferedCount()).toBe(0);
  });

  it('messages from a previous epoch are dropped after a respawn', () => {
    const { rec, engine } = run(
      [
        [10, spawn(4, [KA])],
        [11, insert(4, KB, 1)],
        [12, despawn(4)],
        [13, spawn(4)],
        [14, insert(4, KA, 7)],
      ],
      [10, 12, 13, 11, 14],
    );
    // insert 11 belonged to the first life: it arrived after the respawn (epoch 13) and is dropped
    expect(rec.log).toEqual(['spawn 4 [A]', 'despawn 4', 'spawn 4 []', 'insert 4 A=7']);
    const ch = engine.channels.get(4)!;
    expect(ch.epoch).toBe(13);
    expect(ch.hasComponent(KB.index)).toBe(false);
  });

  it('a spawn from a previous life arriving after the despawn is stale', () => {
    const { rec } = run(
      [
        [0, spawn(9)],
        [1, despawn(9)],
        [2, spawn(9, [KB])],
      ],
      [2, 1, 0],
    );
    // 2 applies at once (legal from Despawned); 1 and 0 are older than that life: dropped
    expect(rec.log).toEqual(['spawn 9 [B]']);
  });

  it('publish/unpublish are ordered per entity (final state is the newest)', () => {
    const { rec, engine } = run(
      [
        [0, spawn(5)],
        [1, { type: CmdType.Publish, entity: 5 }],
        [2, { type: CmdType.Unpublish, entity: 5 }],
        [3, { type: CmdType.Publish, entity: 5 }],
      ],
      [3, 2, 0, 1],
    );
    // 3 (publish) is legal once spawned and newest: it applies; 1 and 2 are then stale
    expect(rec.log).toEqual(['spawn 5 []', 'publish 5']);
    expect(engine.channels.get(5)!.auth!.state).toBe('published');
    const inOrder = run(
      [
        [0, spawn(5)],
        [1, { type: CmdType.Publish, entity: 5 }],
        [2, { type: CmdType.Unpublish, entity: 5 }],
      ],
      [0, 2, 1],
    );
    // unpublish waits for the publish it follows
    expect(inOrder.rec.log).toEqual(['spawn 5 []', 'publish 5', 'unpublish 5']);
  });

  it('bounds what one entity may buffer', () => {
    const rec = new Recorder();
    const engine = new RemoteEngine(rec);
    expect(() => {
      for (let id = 1; id < 400; id++) {
        const full = engine.accept(id);
        engine.handle({ id: full, frame: 0, cmd: { ...insert(1, KA), wireId: id } });
      }
    }).toThrow(/too many commands waiting/);
  });
});
