import { describe, expect, it } from 'vitest';
import { AuthorityError } from './errors.js';
import { clientEntityOf, delegationSetup, Health, Position, Tag } from './testing/delegationFixture.js';

/** A server-owned delegated entity seen by clients a, b and c. */
function setup(seed = 5) {
  const s = delegationSetup({ clients: ['a', 'b', 'c'], seed });
  const e = s.h.server.spawn().insert(Position, { x: 1, y: 1 }).insert(Health, { hp: 5 });
  s.room.addEntity(e);
  e.configureReplication('delegated');
  s.h.settle();
  const of = (k: string) => clientEntityOf(s.h, k, e)!;
  return { ...s, e, ea: of('a'), eb: of('b'), ec: of('c') };
}

describe('authority rules', () => {
  it('starts available everywhere; delegate fires once per side', () => {
    const { e, ea, eb, ec, count } = setup();
    expect(e.authHolder).toBeNull();
    for (const x of [ea, eb, ec]) {
      expect(x.replication).toBe('delegated');
      expect(x.authority).toBe('available');
    }
    expect(count('s:delegate', e)).toBe(1);
    expect(count('a:delegate', ea) + count('b:delegate', eb) + count('c:delegate', ec)).toBe(3);
  });

  it('the first request wins; the others are denied', () => {
    const { h, e, ea, eb, ec, count } = setup();
    expect(eb.requestAuthority()).toEqual({ ok: true });
    expect(ea.requestAuthority()).toEqual({ ok: true });
    h.settle();
    const winner = e.authHolder;
    expect(['a', 'b']).toContain(winner);
    const [won, lost] = winner === 'a' ? [ea, eb] : [eb, ea];
    expect(won.authority).toBe('granted');
    expect(lost.authority).toBe('denied');
    expect(ec.authority).toBe('denied');
    expect(count(`s:authGranted:${winner}`, e)).toBe(1);
    expect(count(`s:authDenied:${winner === 'a' ? 'b' : 'a'}`, e)).toBe(1);
    expect(count('a:authGranted') + count('b:authGranted')).toBe(1);
    expect(count('c:authDenied', ec)).toBe(1);
  });

  it('a request reaching the server after another wins is denied even when both are pending', () => {
    const { h, e, ea, eb } = setup();
    ea.requestAuthority();
    h.tick();
    h.tick();
    eb.requestAuthority();
    h.settle();
    expect(e.authHolder).toBe('a');
    expect(eb.authority).toBe('denied');
  });

  it('a release returns every client to available', () => {
    const { h, e, ea, eb, ec, count } = setup();
    ea.requestAuthority();
    h.settle();
    expect(ea.releaseAuthority()).toEqual({ ok: true });
    h.settle();
    expect(e.authHolder).toBeNull();
    for (const x of [ea, eb, ec]) expect(x.authority).toBe('available');
    expect(count('a:authReset', ea)).toBe(1);
    expect(count('b:authReset', eb)).toBe(1);
    expect(count('c:authReset', ec)).toBe(1);
    expect(count('s:authReset', e)).toBe(1);
  });

  it('the server gives and takes authority; giving needs the user in scope', () => {
    const { h, e, ea, eb, ec, room } = setup();
    expect(e.giveAuthority('b')).toEqual({ ok: true });
    h.settle();
    expect(eb.authority).toBe('granted');
    expect(ea.authority).toBe('denied');
    expect(e.takeAuthority()).toEqual({ ok: true });
    h.settle();
    for (const x of [ea, eb, ec]) expect(x.authority).toBe('denied');
    e.get(Position).x = 50; // the server may always write
    expect(e.releaseAuthority()).toEqual({ ok: true });
    h.settle();
    for (const x of [ea, eb, ec]) expect(x.authority).toBe('available');
    expect(ea.get(Position).x).toBe(50);
    room.removeUser('c');
    h.settle();
    const r = e.giveAuthority('c');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('not-in-scope');
  });

  it('the holder losing scope releases authority for everyone', () => {
    const { h, e, ea, eb, room, count } = setup();
    eb.requestAuthority();
    h.settle();
    expect(e.authHolder).toBe('b');
    room.removeUser('b');
    h.settle();
    expect(e.authHolder).toBeNull();
    expect(ea.authority).toBe('available');
    expect(count('s:authReset', e)).toBe(1);
    expect(count('a:authReset', ea)).toBe(1);
  });

  it('the holder disconnecting releases authority for everyone', () => {
    const { h, e, ea, ec } = setup();
    ec.requestAuthority();
    h.settle();
    expect(e.authHolder).toBe('c');
    h.removeClient('c');
    h.settle();
    expect(e.authHolder).toBeNull();
    expect(ea.authority).toBe('available');
  });

  it('non-holders cannot write: a typed error on the client, a counted drop on the server', () => {
    const { h, e, ea, eb } = setup();
    ea.requestAuthority();
    h.settle();
    expect(() => {
      eb.get(Position).x = 9;
    }).toThrow(AuthorityError);
    expect(() => eb.insert(Tag, { text: 'no' })).toThrow(AuthorityError);
    expect(() => eb.remove(Health)).toThrow(AuthorityError);
    // the holder writes; then the server takes authority while those writes are in flight
    ea.get(Position).x = 77;
    h.clients.get('a')!.world.step(); // sent now, arrives at the server's next receive
    e.takeAuthority();
    h.settle();
    expect(h.server.connection('a')!.stats.refusedWrites).toBeGreaterThan(0);
    expect(e.get(Position).x).toBe(1);
    // the former holder is brought back to the server's state
    expect(ea.get(Position).x).toBe(1);
    expect(ea.authority).toBe('denied');
  });

  it('requestAuthority / releaseAuthority on a non-delegated entity return a typed error', () => {
    const { h, a, room } = setup();
    const plainEnt = h.server.spawn().insert(Position, { x: 0, y: 0 });
    room.addEntity(plainEnt);
    h.settle();
    const mine = a.world.spawn();
    const copy = clientEntityOf(h, 'a', plainEnt)!;
    for (const x of [copy, mine]) {
      const r = x.requestAuthority();
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(AuthorityError);
        expect(r.error.code).toBe('not-delegated');
      }
      expect(x.authority).toBeNull();
    }
  });

  it('events fire exactly once per transition across a long sequence', () => {
    const { h, e, ea, eb, count } = setup();
    for (let round = 0; round < 3; round++) {
      ea.requestAuthority();
      h.settle();
      ea.releaseAuthority();
      h.settle();
      eb.requestAuthority();
      h.settle();
      e.takeAuthority();
      h.settle();
      e.releaseAuthority();
      h.settle();
    }
    expect(count('a:authGranted', ea)).toBe(3);
    expect(count('b:authGranted', eb)).toBe(3);
    // a: denied when b is granted; the server taking over changes nothing for a (still denied)
    expect(count('a:authDenied', ea)).toBe(3);
    // b: denied while a holds, and when the server takes its authority
    expect(count('b:authDenied', eb)).toBe(6);
    expect(count('s:authGranted:a', e)).toBe(3);
    expect(count('s:authGranted:b', e)).toBe(3);
    // resets: a after its own release, after the server's release → and b likewise
    expect(count('a:authReset', ea)).toBe(6);
    expect(count('b:authReset', eb)).toBe(6);
    expect(count('s:authReset', e)).toBe(6);
  });

  it('turning delegation off clears authority everywhere', () => {
    const { h, e, ea, eb, count } = setup();
    ea.requestAuthority();
    h.settle();
    e.configureReplication('public');
    h.settle();
    expect(ea.authority).toBeNull();
    expect(eb.authority).toBeNull();
    expect(ea.replication).toBe('public');
    expect(count('a:authReset', ea)).toBe(1);
    expect(() => {
      ea.get(Position).x = 3;
    }).not.toThrow();
  });
});

describe('authority: despawns', () => {
  it('the holder may despawn the entity; every copy goes, once', () => {
    const { h, e, ea, eb, count, a } = setup();
    ea.requestAuthority();
    h.settle();
    ea.despawn();
    h.settle();
    expect(e.alive).toBe(false);
    expect(eb.alive).toBe(false);
    expect(count('b:despawn', eb)).toBe(1);
    expect(count('a:despawn', ea)).toBe(0); // its own act
    expect(a.world.connection.host.channels.has(ea.id)).toBe(false);
  });

  it('the server despawning an entity a client holds cleans the holder up', () => {
    const { h, e, ea, a, count } = setup();
    ea.requestAuthority();
    h.settle();
    e.despawn();
    h.settle();
    expect(ea.alive).toBe(false);
    expect(count('a:despawn', ea)).toBe(1);
    expect(a.world.connection.host.channels.has(ea.id)).toBe(false);
    expect(a.world.connection.idle).toBe(true);
  });
});
