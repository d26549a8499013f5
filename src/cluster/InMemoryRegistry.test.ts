import { describe, expect, it } from 'vitest';
import { ed25519KeyPairFromSeed } from '../session/trust/ed25519.js';
import { ManualClock } from '../util/Clock.js';
import { type BackendHealth, type BackendRegistration, InMemoryRegistry } from './index.js';

const key = ed25519KeyPairFromSeed(new Uint8Array(32).fill(7));

function backend(id: string, overrides: Partial<BackendRegistration> = {}): BackendRegistration {
  return {
    id,
    pool: 'lobby',
    address: { host: '127.0.0.1', port: 7000 },
    capacity: 100,
    load: 0,
    publicKey: key.publicKeyRaw,
    ...overrides,
  };
}

describe('InMemoryRegistry', () => {
  it('registers, gets, lists by pool (ordered by id), updates and removes', async () => {
    const clock = new ManualClock(5000);
    const registry = new InMemoryRegistry({ clock });
    await registry.register(backend('b2'));
    await registry.register(backend('b1'));
    await registry.register(backend('m1', { pool: 'match' }));
    expect((await registry.list()).map((b) => b.id)).toEqual(['b1', 'b2', 'm1']);
    expect((await registry.list('lobby')).map((b) => b.id)).toEqual(['b1', 'b2']);
    const b1 = await registry.get('b1');
    expect(b1).toMatchObject({ id: 'b1', health: 'up', load: 0, lastSeen: 5000 });
    expect(b1?.publicKey).toEqual(key.publicKeyRaw);
    clock.set(6000);
    expect(await registry.update('b1', { load: 10 })).toMatchObject({ load: 10, lastSeen: 6000 });
    expect(await registry.update('nope', { load: 1 })).toBeUndefined();
    expect(await registry.remove('b1')).toBe(true);
    expect(await registry.remove('b1')).toBe(false);
    expect(await registry.get('b1')).toBeUndefined();
  });

  it('hands out snapshots: mutating a result changes nothing', async () => {
    const registry = new InMemoryRegistry();
    const record = await registry.register(backend('b1'));
    (record as { load: number }).load = 99;
    record.publicKey.fill(0);
    const again = await registry.get('b1');
    expect(again?.load).toBe(0);
    expect(again?.publicKey).toEqual(key.publicKeyRaw);
  });

  it('stores public keys as raw 32 bytes whatever form they came in', async () => {
    const registry = new InMemoryRegistry();
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect((await registry.register(backend('pem', { publicKey: pem }))).publicKey).toEqual(key.publicKeyRaw);
    expect((await registry.register(backend('obj', { publicKey: key.privateKey }))).publicKey).toEqual(
      key.publicKeyRaw,
    );
    await expect(registry.register(backend('bad', { publicKey: new Uint8Array(31) }))).rejects.toThrow(
      TypeError,
    );
    await expect(registry.register(backend('neg', { capacity: -1 }))).rejects.toThrow(RangeError);
  });

  it('pickLeastLoaded: healthy, below capacity, lowest load ratio, stable ties by id', async () => {
    const registry = new InMemoryRegistry();
    expect(await registry.pickLeastLoaded('lobby')).toBeUndefined();
    await registry.register(backend('c', { load: 10, capacity: 100 }));
    await registry.register(backend('a', { load: 10, capacity: 100 }));
    await registry.register(backend('b', { load: 10, capacity: 100 }));
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('a');
    // ratio, not absolute load: 30/1000 beats 10/100
    await registry.register(backend('big', { load: 30, capacity: 1000 }));
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('big');
    await registry.update('big', { health: 'draining' });
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('a');
    await registry.update('a', { health: 'down' });
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('b');
    await registry.update('b', { load: 100 }); // full
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('c');
    expect(await registry.pickLeastLoaded('lobby', { exclude: ['c'] })).toBeUndefined();
    expect(await registry.pickLeastLoaded('match')).toBeUndefined();
    // equal ratio: lower absolute load first
    await registry.register(backend('x', { pool: 'p', load: 2, capacity: 20 }));
    await registry.register(backend('w', { pool: 'p', load: 1, capacity: 10 }));
    expect((await registry.pickLeastLoaded('p'))?.id).toBe('w');
  });

  it('emits health changes on register, update, removal and sweep', async () => {
    const clock = new ManualClock(0);
    const registry = new InMemoryRegistry({ clock, staleAfterMs: 1000 });
    const events: [string, BackendHealth, BackendHealth | undefined][] = [];
    registry.events.on('health', (record, previous) => events.push([record.id, record.health, previous]));
    await registry.register(backend('b1'));
    await registry.register(backend('b2'));
    await registry.update('b1', { load: 5 }); // no health change, no event
    await registry.update('b1', { health: 'draining' });
    await registry.remove('b1');
    clock.set(999);
    expect(await registry.sweep()).toEqual([]);
    clock.set(1000);
    expect(await registry.sweep()).toEqual(['b2']);
    expect(await registry.sweep()).toEqual([]);
    await registry.update('b2', { health: 'up' }); // heartbeat after recovery
    expect(events).toEqual([
      ['b1', 'up', undefined],
      ['b2', 'up', undefined],
      ['b1', 'draining', 'up'],
      ['b1', 'down', 'draining'],
      ['b2', 'down', 'up'],
      ['b2', 'up', 'down'],
    ]);
  });

  it('a backend swept down for silence comes back up when it reports again', async () => {
    const clock = new ManualClock(0);
    const registry = new InMemoryRegistry({ clock, staleAfterMs: 1000 });
    await registry.register(backend('b1'));
    await registry.register(backend('b2'));
    await registry.update('b2', { health: 'down' }); // marked down by a proxy, not by silence
    clock.set(1000);
    expect(await registry.sweep()).toEqual(['b1']);
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBeUndefined();
    await registry.update('b1', { load: 3 }); // its heartbeat: alive again
    expect((await registry.get('b1'))?.health).toBe('up');
    expect((await registry.pickLeastLoaded('lobby'))?.id).toBe('b1');
    // one seen down by a proxy stays down until someone says otherwise
    await registry.update('b2', { load: 1 });
    expect((await registry.get('b2'))?.health).toBe('down');
  });
});
