import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { describeWithRedis, useRedisServer } from '../../test/helpers/redis.js';
import { ed25519KeyPairFromSeed } from '../session/trust/ed25519.js';
import { issueTicket, stateDigest, verifyTicket } from '../session/trust/MigrationTicket.js';
import { ManualClock } from '../util/Clock.js';
import {
  type BackendHealth,
  type BackendRegistration,
  RedisNonceStore,
  RedisRegistry,
  RedisTicketKeys,
} from './index.js';

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

/** Poll until `check` holds (bounded: 200 × 25 ms). Events from another instance arrive through pub/sub. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met within 5 s');
}

describeWithRedis('Redis stores (real redis-server)', () => {
  const redis = useRedisServer();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  function registry(prefix: string, clock?: ManualClock, staleAfterMs?: number): RedisRegistry {
    const r = new RedisRegistry({ redis: redis.url, prefix, clock, staleAfterMs });
    open.push(r);
    return r;
  }

  it('registers, gets, lists by pool (ordered by id), updates and removes — seen by a second instance', async () => {
    const prefix = redis.prefix();
    const clock = new ManualClock(5000);
    const a = registry(prefix, clock);
    const b = registry(prefix, clock);
    await a.register(backend('b2'));
    await a.register(backend('b1'));
    await b.register(backend('m1', { pool: 'match' }));
    expect((await b.list()).map((r) => r.id)).toEqual(['b1', 'b2', 'm1']);
    expect((await a.list('lobby')).map((r) => r.id)).toEqual(['b1', 'b2']);
    const b1 = await b.get('b1');
    expect(b1).toMatchObject({ id: 'b1', health: 'up', load: 0, lastSeen: 5000, address: { port: 7000 } });
    expect(b1?.publicKey).toEqual(key.publicKeyRaw);
    clock.set(6000);
    expect(await b.update('b1', { load: 10 })).toMatchObject({ load: 10, lastSeen: 6000 });
    expect((await a.get('b1'))?.load).toBe(10);
    expect(await a.update('nope', { load: 1 })).toBeUndefined();
    expect(await b.remove('b1')).toBe(true);
    expect(await a.remove('b1')).toBe(false);
    expect(await a.get('b1')).toBeUndefined();
    await expect(a.register(backend('neg', { capacity: -1 }))).rejects.toThrow(RangeError);
    await expect(a.register(backend('bad', { publicKey: new Uint8Array(31) }))).rejects.toThrow(TypeError);
    // another prefix is another cluster
    expect(await registry(redis.prefix()).list()).toEqual([]);
  });

  it('pickLeastLoaded follows the shared state: health set by one instance decides for the other', async () => {
    const prefix = redis.prefix();
    const a = registry(prefix);
    const b = registry(prefix);
    expect(await a.pickLeastLoaded('lobby')).toBeUndefined();
    await a.register(backend('c', { load: 10 }));
    await a.register(backend('a', { load: 10 }));
    await b.register(backend('big', { load: 30, capacity: 1000 }));
    expect((await a.pickLeastLoaded('lobby'))?.id).toBe('big');
    await b.update('big', { health: 'draining' });
    expect((await a.pickLeastLoaded('lobby'))?.id).toBe('a');
    await b.update('a', { health: 'down' });
    expect((await a.pickLeastLoaded('lobby'))?.id).toBe('c');
    expect(await a.pickLeastLoaded('lobby', { exclude: ['c'] })).toBeUndefined();
    await a.update('a', { health: 'up' });
    expect((await b.pickLeastLoaded('lobby'))?.id).toBe('a');
  });

  it('health changes reach every instance, in order, once each', async () => {
    const prefix = redis.prefix();
    const clock = new ManualClock(0);
    const a = registry(prefix, clock, 1000);
    const b = registry(prefix, clock, 1000);
    type Seen = [string, BackendHealth, BackendHealth | undefined];
    const atA: Seen[] = [];
    const atB: Seen[] = [];
    const removedAtB: string[] = [];
    a.events.on('health', (r, p) => atA.push([r.id, r.health, p]));
    b.events.on('health', (r, p) => atB.push([r.id, r.health, p]));
    b.events.on('removed', (r) => removedAtB.push(r.id));
    await a.register(backend('b1'));
    await b.register(backend('b2'));
    await a.update('b1', { load: 5 }); // no health change, no event
    await a.update('b1', { health: 'down' }); // one proxy marks it down…
    await b.update('b1', { health: 'up' }); // …another sees it come back
    await a.update('b1', { health: 'draining' });
    await a.remove('b1');
    clock.set(999);
    expect(await b.sweep()).toEqual([]);
    clock.set(1000);
    // two instances sweep at once: the backend is marked by exactly one
    const [sa, sb] = await Promise.all([a.sweep(), b.sweep()]);
    expect([...sa, ...sb]).toEqual(['b2']);
    const expected: Seen[] = [
      ['b1', 'up', undefined],
      ['b2', 'up', undefined],
      ['b1', 'down', 'up'],
      ['b1', 'up', 'down'],
      ['b1', 'draining', 'up'],
      ['b1', 'down', 'draining'],
      ['b2', 'down', 'up'],
    ];
    await eventually(() => atA.length >= expected.length && atB.length >= expected.length);
    expect(atA).toEqual(expected);
    expect(atB).toEqual(expected);
    expect(removedAtB).toEqual(['b1']);
    expect(a.stats.badEvents + b.stats.badEvents).toBe(0);
  });

  it('drops a malformed event on the channel and counts it', async () => {
    const prefix = redis.prefix();
    const a = registry(prefix);
    await a.list(); // subscribed
    const raw = new Redis(redis.url);
    open.push({ close: async () => void (await raw.quit()) });
    await a.register(backend('x')); // makes sure the subscription is live
    await raw.publish(`${prefix}registry`, 'not json');
    await raw.publish(`${prefix}registry`, JSON.stringify({ t: 'health', o: 'z', p: 'up', r: ['id', 'x'] }));
    await eventually(() => a.stats.badEvents === 2);
  });

  it('a nonce consumed through one store is refused through every other (SET NX PX)', async () => {
    const prefix = redis.prefix();
    const clock = new ManualClock(1_700_000_000_000);
    const one = new RedisNonceStore({ redis: redis.url, prefix, clock });
    const two = new RedisNonceStore({ redis: redis.url, prefix, clock, maxRetentionMs: 60_000 });
    open.push(one, two);
    const nonce = new Uint8Array(16).fill(3);
    const exp = clock.now() + 5000;
    const results = await Promise.all([
      one.consume(nonce, exp),
      two.consume(nonce, exp),
      one.consume(nonce, exp),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await two.consume('other', exp)).toBe(true);
    expect(await one.consume('late', clock.now())).toBe(false);
    expect(await two.consume('far', clock.now() + 60_001)).toBe(false);
    expect(one.stats.replayed + two.stats.replayed).toBe(2);
    expect(one.stats.refusedExpired).toBe(1);
    expect(two.stats.refusedRetention).toBe(1);
  });

  it('the nonce key expires with the nonce', async () => {
    const prefix = redis.prefix();
    const store = new RedisNonceStore({ redis: redis.url, prefix });
    open.push(store);
    expect(await store.consume('n', Date.now() + 5000)).toBe(true);
    const raw = new Redis(redis.url);
    open.push({ close: async () => void (await raw.quit()) });
    const ttl = await raw.pttl(`${prefix}nonce:n`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it('refuses (fails closed) when Redis does not answer', async () => {
    const store = new RedisNonceStore({ redis: 'redis://127.0.0.1:1', prefix: redis.prefix() });
    open.push(store);
    expect(await store.consume('n', Date.now() + 5000)).toBe(false);
    expect(store.stats.refusedUnavailable).toBe(1);
  });

  it('ticket keys published through one instance verify tickets on another', async () => {
    const prefix = redis.prefix();
    const a = new RedisTicketKeys({ redis: redis.url, prefix });
    const b = new RedisTicketKeys({ redis: redis.url, prefix });
    const nonces = new RedisNonceStore({ redis: redis.url, prefix });
    open.push(a, b, nonces);
    const pair = await a.generate('backend-a');
    expect(a.keyPairOf('backend-a')).toBe(pair);
    expect(b.keyPairOf('backend-a')).toBeUndefined();
    expect((await b.publicKeyOf('backend-a'))?.equals(pair.publicKey)).toBe(true);
    const T0 = Date.now();
    const claims = {
      issuer: 'backend-a',
      audience: 'backend-b',
      subject: '11111111-2222-4333-8444-555555555555',
      proxySessionId: 1,
      nonce: new Uint8Array(16).fill(9),
      issuedAt: T0,
      notBefore: T0,
      expiresAt: T0 + 5000,
      protocolHash: 1n,
      stateDigest: stateDigest(new Uint8Array(0)),
    };
    const ticket = issueTicket(claims, pair.privateKey);
    const options = {
      expectedAudience: 'backend-b',
      expectedSubject: claims.subject,
      expectedProtocolHash: 1n,
      stateBytes: new Uint8Array(0),
      publicKeyOf: (id: string) => b.publicKeyOf(id),
      nonceStore: nonces,
    };
    expect((await verifyTicket(ticket, options)).ok).toBe(true);
    expect(await verifyTicket(ticket, options)).toMatchObject({ ok: false, reason: 'replayed' });
    const other = ed25519KeyPairFromSeed(new Uint8Array(32).fill(1));
    await b.publish('backend-a', other.publicKeyRaw);
    expect((await a.publicKeyOf('backend-a'))?.equals(other.publicKey)).toBe(true);
    expect(a.keyPairOf('backend-a')).toBeUndefined(); // replaced elsewhere: the local pair is stale
    expect(await a.remove('backend-a')).toBe(true);
    expect(await b.remove('backend-a')).toBe(false);
    expect(await b.publicKeyOf('backend-a')).toBeUndefined();
  });
});
