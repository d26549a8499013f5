import { describe, expect, it } from 'vitest';
import { REDIRECT_TTL_MS } from './LocalEntityMap.js';
import {
  clientEntityOf,
  delegationSetup,
  Health,
  Position,
  plain,
  serverEntityOf,
  Tag,
  tickUntil,
} from './testing/delegationFixture.js';

function delegatedAt(firstCommandId?: number) {
  const s = delegationSetup({ connection: firstCommandId === undefined ? {} : { firstCommandId } });
  const mine = s.a.world.spawn().insert(Position, { x: 1, y: 2 }).insert(Health, { hp: 1 });
  mine.configureReplication('public');
  s.h.settle();
  mine.configureReplication('delegated');
  tickUntil(s.h, () => mine.authority === 'granted');
  s.h.settle();
  const server = serverEntityOf(s.h, 'a', mine)!;
  return { ...s, mine, server, watched: clientEntityOf(s.h, 'b', server)! };
}

describe('migrated channels and the 16-bit command id wrap', () => {
  it('accepts every later command when the counters start just below the wrap', () => {
    const { h, a, mine, server, watched } = delegatedAt(65_530);
    const up = a.world.connection.host.nextCommandId;
    expect(up).toBeGreaterThan(65_530);
    // holder writes whose ids cross 65 536 on the wire
    for (let i = 0; i < 20; i++) {
      if (i % 2 === 0) mine.insert(Tag, { text: `w${i}` });
      else mine.remove(Tag);
      mine.get(Health).hp = i;
      h.tick();
    }
    mine.insert(Tag, { text: 'end' });
    h.settle();
    expect(a.world.connection.host.nextCommandId).toBeGreaterThan(65_536);
    expect(plain(server)).toEqual(plain(mine));
    expect(plain(watched)).toEqual(plain(mine));
    // server → owner sub-commands past the wrap: take, then release
    expect(h.server.connection('a')!.host.nextCommandId).toBeLessThan(65_536 + 100);
    server.takeAuthority();
    h.settle();
    expect(mine.authority).toBe('denied');
    server.releaseAuthority();
    h.settle();
    expect(mine.authority).toBe('available');
    expect(h.errors).toEqual([]);
  });

  it('accepts commands more than half the 16-bit circle after the migration, both directions', () => {
    const { h, a, mine, server, watched, room } = delegatedAt();
    // drive the owner's counter 40 000 ids further with a private entity of its own
    const spam = a.world.spawn().insert(Position, { x: 0, y: 0 });
    const sEnt = h.server.spawn().insert(Health, { hp: 0 });
    room.addEntity(sEnt);
    h.settle();
    const startUp = a.world.connection.host.nextCommandId;
    for (let guard = 0; a.world.connection.host.nextCommandId < startUp + 40_000; guard++) {
      if (guard > 2000) throw new Error('command ids stopped advancing');
      for (let i = 0; i < 500; i++) {
        spam.remove(Position);
        spam.insert(Position, { x: i, y: 0 });
      }
      h.tick();
    }
    h.settle();
    mine.insert(Tag, { text: 'late' });
    mine.get(Position).x = 1234;
    h.settle();
    expect(server.get(Tag).text).toBe('late');
    expect(plain(server)).toEqual(plain(mine));
    expect(plain(watched)).toEqual(plain(mine));
    // drive the server → owner counter the same way, then change the owner's authority
    const conn = h.server.connection('a')!;
    const startDown = conn.host.nextCommandId;
    for (let guard = 0; conn.host.nextCommandId < startDown + 40_000; guard++) {
      if (guard > 2000) throw new Error('command ids stopped advancing');
      for (let i = 0; i < 500; i++) {
        sEnt.remove(Health);
        sEnt.insert(Health, { hp: i % 200 });
      }
      h.tick();
    }
    h.settle();
    server.takeAuthority();
    h.settle();
    expect(mine.authority).toBe('denied');
    expect(watched.authority).toBe('denied');
    expect(h.errors).toEqual([]);
  });
});

describe('redirects', () => {
  it('are honoured for 60 s of simulated time, then expire and are cleaned up', () => {
    const { h, a } = delegatedAt();
    const conn = h.server.connection('a')!;
    expect(conn.map.redirectCount).toBe(1);
    expect(a.world.connection.map.redirectCount).toBe(1);
    h.ticks(Math.floor((REDIRECT_TTL_MS - 2000) / 1000), 1000);
    expect(conn.map.redirectCount).toBe(1);
    expect(a.world.connection.map.redirectCount).toBe(1);
    h.ticks(3, 1000);
    expect(conn.map.redirectCount).toBe(0);
    expect(a.world.connection.map.redirectCount).toBe(0);
  });
});
