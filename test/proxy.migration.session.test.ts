import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { MuxFrame } from '../src/session/mux.js';
import { type ClusterChannels, clusterProtocol } from './helpers/cluster.js';
import {
  Bot,
  type MemBackend,
  type MemCluster,
  memCluster,
  processedSeqs,
  until,
} from './helpers/migration.js';
import { State } from './helpers/protocol.js';

/**
 * What a move carries of the player's session (DESIGN §5 "Sync", "Cutover"), and what a
 * rollback after A's Handoff gives back (DESIGN §5 "Failed": nothing lost).
 */
const open: MemCluster[] = [];
const bots: Bot[] = [];
const closing: Client<ClusterChannels>[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const b of bots.splice(0)) b.stop();
  for (const c of closing.splice(0)) await c.close();
  for (const c of open.splice(0)) await c.close();
});

type SendFrame = (type: number, sessionId: number, payload: Uint8Array) => boolean;

/** B never answers Restore (its Restored is swallowed): the proxy's cutover times out after A's Handoff. */
function swallowRestored(b: MemBackend): void {
  b.server.on('connect', (user) => {
    const link = (user.session as unknown as { proxyLink: { sendFrame: SendFrame } }).proxyLink;
    const send = link.sendFrame.bind(link);
    link.sendFrame = (type, sessionId, payload) =>
      type === MuxFrame.Restored ? true : send(type, sessionId, payload);
  });
}

async function player(cluster: MemCluster, clientOptions: ConstructorParameters<typeof Client>[1] = {}) {
  const client = new Client(clusterProtocol, { handshakeTimeoutMs: 4000, autoStep: false, ...clientOptions });
  closing.push(client);
  const bot = new Bot(client);
  bots.push(bot);
  await bot.connect(cluster.hub, cluster.address, 'ann', { loss: 0.05, reorder: 0.05, latencyMs: 1 });
  const s = cluster.proxy.sessions()[0];
  return { bot, client, sid: s.id, uuid: s.uuid };
}

describe('what a move carries of the session', () => {
  it('B gets the PlayerOptions and view radius the client set on A, and the client takes B’s client id from the Migrate', async () => {
    const cluster = await memCluster(['a', 'b']);
    open.push(cluster);
    const { bot, client, sid } = await player(cluster);
    const options = Uint8Array.of(7, 7, 7);
    client.setPlayerOptions(options);
    client.setViewRadius(33);
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    await until(() => a.server.users[0]?.playerOptions !== undefined, 3000, 'options on A');
    const seenOnB: { options?: Uint8Array; radius?: number }[] = [];
    b.server.on('playerOptions', (_u, data) => seenOnB.push({ options: data }));
    b.server.on('viewRadius', (_u, r) => seenOnB.push({ radius: r }));
    // a → b → a → b: each arrival gets the next client id of that backend (b: 1, a: 2, b: 2)
    for (const to of ['b', 'a', 'b']) {
      const r = await cluster.proxy.migrate(sid, to);
      if (!r.ok) throw new Error(r.reason);
      const here = cluster.backends.get(to)!;
      expect(client.id).toBe(here.server.users[0].id);
    }
    expect(client.id).toBe(2);
    expect(b.server.users[0].playerOptions).toEqual(options);
    expect(seenOnB.filter((x) => x.options).map((x) => [...x.options!])).toEqual([
      [7, 7, 7],
      [7, 7, 7],
    ]);
    expect(b.server.users[0].viewRadius).toBe(33);
    expect(bot.disconnects).toEqual([]);
  });
});

describe('rollback after A handed off (B never answers Restore)', () => {
  it('A gets back the tick input it handed off (the client runs far ahead, so A held some): every input processed once', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { timeouts: { cutover: 100 } } } });
    open.push(cluster);
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    // something is carried, so the proxy waits for B's Restored
    a.server.migration.carried = () => {
      const e = [...a.server.entities()][0] ?? a.server.spawn();
      return [e.id];
    };
    swallowRestored(b);
    const { bot, uuid, sid } = await player(cluster, { tickLeadTicks: 25 });
    await until(() => a.processed.filter((p) => p.channel === 'input').length > 5, 4000, 'tick input on A');
    let handedOff = 0;
    const hook = a.server.migration.handOff;
    a.server.migration.handOff = (user, phase) => {
      if (phase === 'final') handedOff++;
      return hook?.(user, phase) ?? new Uint8Array(0);
    };
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/Cutover timed out/);
    expect(handedOff).toBe(1);
    const before = bot.seq;
    await until(() => bot.seq > before + 5, 2000, 'more input');
    bot.sending = false;
    const sent = bot.seq;
    await until(() => processedSeqs(cluster.log, uuid, 'input').length >= sent, 6000, 'tick input processed');
    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    expect([...processedSeqs(cluster.log, uuid, 'input')].sort((x, y) => x - y)).toEqual(expected);
    expect(processedSeqs(cluster.log, uuid, 'chat')).toEqual(expected);
    expect(cluster.log.filter((l) => l.backend !== 'a')).toEqual([]);
  });

  it('what A sent the player after its Handoff reaches the client (reliable channels: every message, in order)', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { timeouts: { cutover: 150 } } } });
    open.push(cluster);
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    a.server.migration.carried = () => {
      const e = [...a.server.entities()][0] ?? a.server.spawn();
      return [e.id];
    };
    swallowRestored(b);
    const { bot, client, sid } = await player(cluster);
    const got: number[] = [];
    client.onMessage(State, (v, channel) => {
      if (channel === 'chat') got.push(v.tick);
    });
    let sent = 0;
    let sentAtHandoff = -1;
    a.server.migration.handOff = (_user, phase) => {
      if (phase === 'final') sentAtHandoff = sent;
      return new Uint8Array(0);
    };
    timers.push(
      setInterval(() => {
        const user = a.server.users[0];
        if (user?.connected) a.server.send(user, 'chat', State, { tick: ++sent, x: 0, y: 0 });
      }, 4),
    );
    await until(() => got.length > 5, 3000, 'messages from A');
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/Cutover timed out/);
    await new Promise((res) => setTimeout(res, 40));
    for (const t of timers.splice(0)) clearInterval(t);
    // A kept sending during the 150 ms its player was handed off: those messages count too
    expect(sent).toBeGreaterThan(sentAtHandoff + 10);
    await until(() => got.length >= sent, 4000, 'every message of A');
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(bot.disconnects).toEqual([]);
  });
});

describe('buffer bounds (the client frozen, A never hands off)', () => {
  async function frozenForever(migration: Record<string, number>) {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration } });
    open.push(cluster);
    const { sid } = await player(cluster);
    const a = cluster.backends.get('a')!;
    await until(() => a.processed.length > 5, 3000, 'input on A');
    // A hangs once it signed the ticket: the freeze lasts until a bound is crossed
    a.server.migration.handOff = (_u, phase) => {
      if (phase === 'ticket') a.hang();
      return new Uint8Array(0);
    };
    const r = await cluster.proxy.migrate(sid, 'b');
    a.server.start();
    return r;
  }

  it('the per-player byte bound', async () => {
    const r = await frozenForever({ maxBufferedBytes: 300 });
    expect(!r.ok && r.reason).toMatch(/buffer bound exceeded: more than 300 bytes/);
  });

  it('the proxy-wide cap', async () => {
    const r = await frozenForever({ maxGlobalBufferedBytes: 300 });
    expect(!r.ok && r.reason).toMatch(/buffer bound exceeded: proxy-wide cap of 300 bytes/);
  });
});

describe('every state has a timeout (the player stays where it was, or is referred after cutover)', () => {
  it('Prepare: B’s link never comes up', async () => {
    const cluster = await memCluster(['a', 'b'], {
      proxy: { migration: { timeouts: { prepare: 100 } } },
    });
    open.push(cluster);
    const { sid } = await player(cluster);
    // from now on a new link to b hangs in its connect
    const proxy = cluster.proxy as unknown as { options: { dialBackend: (r: { id: string }) => unknown } };
    const dial = proxy.options.dialBackend;
    proxy.options.dialBackend = (r) =>
      r.id === 'b' ? { kind: 'memory', connect: () => new Promise(() => {}) } : dial(r);
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r).toMatchObject({ ok: false, state: 'Prepare', afterCutover: false });
    expect(!r.ok && r.reason).toMatch(/Prepare timed out after 100 ms/);
  });

  it('Auth: A never answers the ticket request', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { timeouts: { auth: 100 } } } });
    open.push(cluster);
    const { sid, bot } = await player(cluster);
    const a = cluster.backends.get('a')!;
    a.hang();
    const r = await cluster.proxy.migrate(sid, 'b');
    a.server.start();
    expect(r).toMatchObject({ ok: false, state: 'Auth', afterCutover: false });
    expect(!r.ok && r.reason).toMatch(/Auth timed out after 100 ms/);
    expect(bot.disconnects).toEqual([]);
  });

  it('Sync: B never echoes the probe', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { timeouts: { sync: 100 } } } });
    open.push(cluster);
    const { sid, bot } = await player(cluster);
    const b = cluster.backends.get('b')!;
    b.server.on('connect', () => b.hang());
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r).toMatchObject({ ok: false, state: 'Sync', afterCutover: false });
    expect(!r.ok && r.reason).toMatch(/Sync timed out after 100 ms/);
    expect(bot.disconnects).toEqual([]);
  });

  it('Resume: the client never acknowledges the Migrate (then the referral fallback)', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { timeouts: { resume: 150 } } } });
    open.push(cluster);
    const { sid, bot } = await player(cluster);
    cluster.backends.get('b')!.server.on('migrated', () => bot.pause());
    const r = await cluster.proxy.migrate(sid, 'b');
    bot.resume();
    expect(r).toMatchObject({ ok: false, state: 'Resume', afterCutover: true });
    expect(!r.ok && r.reason).toMatch(/Resume timed out after 150 ms/);
    expect(cluster.proxy.stats.migration.fallbacks).toBe(1);
  });
});
