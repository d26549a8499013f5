import { describe, expect, it } from 'vitest';
import { defineProtocol, message, t } from '../index.js';
import {
  decodeReason,
  encodeMigrateOpen,
  encodeMuxMessage,
  encodePlayerOpen,
  encodeReason,
  MuxFrame,
  type PlayerOpen,
} from '../session/mux.js';
import { encodeLinkHello } from '../session/muxLinkHello.js';
import { MemoryStreamNetwork, peerIdentity } from '../transport/stream/MemoryStream.js';
import { StreamRefusedError } from '../transport/stream/StreamRefusedError.js';
import type { StreamConnection } from '../transport/stream/types.js';
import { ManualClock } from '../util/Clock.js';
import {
  type ProxiedSession,
  ProxiedSessions,
  type ProxiedSessionsHost,
  type ProxyListenOptions,
} from './ProxiedSessions.js';

/** The backend's side of proxy streams, driven by hand: memory streams, a manual clock. */
const Note = message('Note', { n: t.u8 });
const protocol = defineProtocol({
  tickRate: 20,
  messages: [Note],
  channels: { notes: { mode: 'ordered-reliable' } },
});

function playerOpen(): PlayerOpen {
  return {
    connect: {
      type: 'Connect',
      protocolHash: protocol.hash,
      clientType: 'g',
      language: 'en',
      uuid: '00112233-4455-6677-8899-aabbccddeeff',
      username: 'ann',
    },
    clientAddress: 'udp:1.2.3.4:5',
    clientRttMs: 10,
    authResult: new Uint8Array(0),
    referralVerified: false,
    maxWorldFrameBytes: 1100,
  };
}

const flush = () => new Promise((r) => setImmediate(r));

async function harness(options: ProxyListenOptions = {}) {
  const clock = new ManualClock(1000);
  const net = new MemoryStreamNetwork();
  const applied: number[] = [];
  const closed: string[] = [];
  const sessions: ProxiedSession[] = [];
  const verdicts: ((v: true | string) => void)[] = [];
  let ids = 0;
  const host: ProxiedSessionsHost = {
    protocol,
    clock,
    allocateId: () => ++ids,
    serverInfo: () => ({ name: 'b', motd: '', maxPlayers: 10 }),
    worldSettings: () => undefined,
    currentTick: () => 7,
    admit: () => true,
    onAccepted: (s) => {
      sessions.push(s as ProxiedSession);
      s.pipe.onMessage = (_channel, payload) => applied.push(payload[0]);
    },
    onClosed: (_s, reason) => closed.push(reason),
    onControl: () => {},
    migration: {
      issueTicket: () => ({ ok: false, reason: 'no' }),
      verifyArrival: () => new Promise((resolve) => verdicts.push(resolve)),
      handOff: () => ({ state: new Uint8Array(0), carried: [] }),
      restore: () => [],
    },
  };
  const backend = new ProxiedSessions(host, options);
  const address = await backend.listen(net.server());
  const connect = (name = 'proxy-1') => net.client(address, { identity: peerIdentity(name) }).connect();
  const proxy = await connect();
  const fromBackend: { type: number; sessionId: number; payload: Uint8Array }[] = [];
  proxy.onFrame = (type, sessionId, payload) => fromBackend.push({ type, sessionId, payload });
  /** Let the memory stream deliver, then run the backend's receive phase. */
  const step = async () => {
    await flush();
    backend.receive();
    await flush();
  };
  const note = (n: number) => encodeMuxMessage(0, Uint8Array.of(n));
  return { clock, backend, proxy, connect, fromBackend, applied, closed, sessions, verdicts, step, note };
}

async function withPlayer(options: ProxyListenOptions = {}) {
  const h = await harness(options);
  h.proxy.sendFrame(MuxFrame.PlayerOpen, 1, encodePlayerOpen(playerOpen()));
  await h.step();
  expect(h.sessions.length).toBe(1);
  return h;
}

describe('ProxiedSessions: freeze holds a player', () => {
  it('no input is applied from Freeze until Thaw; then it is, in order', async () => {
    const h = await withPlayer();
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(1));
    await h.step();
    expect(h.applied).toEqual([1]);
    h.proxy.sendFrame(MuxFrame.Freeze, 1, new Uint8Array(0));
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(2));
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(3));
    await h.step();
    expect(h.fromBackend.some((f) => f.type === MuxFrame.Handoff)).toBe(true);
    expect(h.applied).toEqual([1]);
    expect(h.sessions[0].frozen).toBe(true);
    // nothing of the world goes to a frozen player
    const worldBefore = h.fromBackend.filter((f) => f.type === MuxFrame.World).length;
    h.sessions[0].mux.sendWorldFrame(Uint8Array.of(9));
    await flush();
    expect(h.fromBackend.filter((f) => f.type === MuxFrame.World).length).toBe(worldBefore);
    h.proxy.sendFrame(MuxFrame.Thaw, 1, new Uint8Array(0));
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(4));
    await h.step();
    expect(h.applied).toEqual([1, 2, 3, 4]);
    expect(h.backend.stats.migration.heldWhileFrozen).toBe(2);
    h.sessions[0].mux.sendWorldFrame(Uint8Array.of(9));
    await flush();
    expect(h.fromBackend.filter((f) => f.type === MuxFrame.World).length).toBe(worldBefore + 1);
  });

  it('a frozen player closed before Thaw never has its held input applied', async () => {
    const h = await withPlayer();
    h.proxy.sendFrame(MuxFrame.Freeze, 1, new Uint8Array(0));
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(5));
    h.proxy.sendFrame(MuxFrame.PlayerClose, 1, encodeReason('migrated to b'));
    await h.step();
    expect(h.applied).toEqual([]);
    expect(h.closed).toEqual(['migrated to b']);
    expect(h.backend.stats.migration.discardedWhenClosed).toBe(1);
  });

  it('more held input bytes than the bound ends the session with a reason', async () => {
    const h = await withPlayer({ maxFrozenBytes: 100 });
    h.proxy.sendFrame(MuxFrame.Freeze, 1, new Uint8Array(0));
    h.proxy.sendFrame(MuxFrame.Message, 1, encodeMuxMessage(0, new Uint8Array(60)));
    h.proxy.sendFrame(MuxFrame.Message, 1, encodeMuxMessage(0, new Uint8Array(60)));
    await h.step();
    expect(h.applied).toEqual([]);
    expect(h.closed[0]).toMatch(/more than 100 input bytes while frozen/);
  });

  it('more held input than the bound ends the session with a reason', async () => {
    const h = await withPlayer({ maxFrozenFrames: 2 });
    h.proxy.sendFrame(MuxFrame.Freeze, 1, new Uint8Array(0));
    for (let i = 0; i < 3; i++) h.proxy.sendFrame(MuxFrame.Message, 1, h.note(i));
    await h.step();
    expect(h.applied).toEqual([]);
    expect(h.closed[0]).toMatch(/more than 2 input frames while frozen/);
    const close = h.fromBackend.find((f) => f.type === MuxFrame.PlayerClose);
    expect(decodeReason(close!.payload)).toMatch(/while frozen/);
  });
});

describe('ProxiedSessions: per-link queues', () => {
  it('a stream over its budget is paused, not dropped; its frames are processed in order', async () => {
    const h = await withPlayer({ maxQueuedFrames: 10, maxFramesPerStep: 4 });
    for (let i = 0; i < 30; i++) h.proxy.sendFrame(MuxFrame.Message, 1, h.note(i));
    await flush();
    await flush();
    expect(h.backend.stats.backpressure.pauses).toBe(1);
    expect(h.backend.stats.backpressure.paused).toBe(1);
    // a paused stream is read at most one delivery past its budget
    expect(h.backend.queuedFrames).toBeLessThan(30);
    h.backend.receive();
    expect(h.applied).toEqual([0, 1, 2, 3]); // the per-step budget
    for (let round = 0; round < 40 && h.applied.length < 30; round++) await h.step();
    expect(h.applied).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(h.backend.stats.backpressure.paused).toBe(0);
    expect(h.backend.stats.dropped.discardedWithLink).toBe(0);
  });

  it('one stream at its budget does not slow another', async () => {
    const h = await withPlayer({ maxQueuedFrames: 8, maxFramesPerStep: 4 });
    const other = await h.connect();
    other.onFrame = () => {};
    other.sendFrame(MuxFrame.PlayerOpen, 1, encodePlayerOpen(playerOpen()));
    await h.step();
    expect(h.sessions.length).toBe(2);
    for (let i = 0; i < 40; i++) h.proxy.sendFrame(MuxFrame.Message, 1, h.note(100));
    other.sendFrame(MuxFrame.Message, 1, h.note(7));
    await h.step();
    // the quiet stream's frame is applied in the first receive, whatever the noisy one queued
    expect(h.applied.filter((n) => n === 7)).toEqual([7]);
    await other.close();
  });
});

describe('ProxiedSessions: tick-buffered input', () => {
  it('more than the tick buffer holds ends the session with a reason, never a silent drop', async () => {
    const h = await withPlayer();
    for (let i = 0; i < 1025; i++)
      h.proxy.sendFrame(MuxFrame.Message, 1, encodeMuxMessage(0, Uint8Array.of(1), 1e6));
    for (let i = 0; i < 5 && h.closed.length === 0; i++) await h.step();
    expect(h.closed[0]).toMatch(/too much tick-buffered input/);
    expect(h.backend.stats.dropped.tickOverflow).toBe(1);
  });
});

describe('ProxiedSessions: fencing', () => {
  it('after LinkHello the backend pings well within the proxy timeout', async () => {
    const h = await withPlayer({ heartbeatIntervalMs: 1000 });
    h.proxy.sendFrame(
      MuxFrame.LinkHello,
      0,
      encodeLinkHello({ epoch: 1, heartbeatIntervalMs: 100, timeoutMs: 800 }),
    );
    await h.step();
    h.backend.maintain();
    await flush();
    const pings = () => h.fromBackend.filter((f) => f.type === MuxFrame.Ping).length;
    const before = pings();
    h.clock.advance(200);
    h.backend.maintain();
    await flush();
    expect(pings()).toBe(before + 1);
  });

  it('input that arrives after the proxy may have given the backend up is not applied; the players end', async () => {
    const h = await withPlayer();
    h.proxy.sendFrame(
      MuxFrame.LinkHello,
      0,
      encodeLinkHello({ epoch: 1, heartbeatIntervalMs: 100, timeoutMs: 1000 }),
    );
    await h.step();
    h.backend.maintain();
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(1));
    h.clock.advance(500); // a short stall: the proxy still routes here
    await h.step();
    expect(h.applied).toEqual([1]);
    h.backend.maintain();
    // a stall longer than the proxy's timeout (minus what is kept in hand): the stream's
    // frames come in after it, and none may be applied
    h.clock.advance(950);
    h.proxy.sendFrame(MuxFrame.Message, 1, h.note(2));
    await h.step();
    expect(h.applied).toEqual([1]);
    expect(h.closed[0]).toMatch(/fenced/);
    expect(h.backend.stats.fencedLinks).toBe(1);
    expect(h.backend.proxyCount).toBe(0);
  });
});

describe('ProxiedSessions: arrivals and refusals', () => {
  it('arrivals whose link is dropped during the ticket check are forgotten, never admitted', async () => {
    const h = await harness();
    const m = encodeMigrateOpen({
      source: 'a',
      ticket: Uint8Array.of(1),
      state: new Uint8Array(0),
      open: playerOpen(),
    });
    h.proxy.sendFrame(MuxFrame.MigrateOpen, 5, m);
    h.proxy.sendFrame(MuxFrame.MigrateOpen, 6, m);
    await h.step();
    expect(h.verdicts.length).toBe(2);
    expect(h.backend.arrivingCount).toBe(2);
    (h.proxy as StreamConnection & { breakConnection(): void }).breakConnection();
    await h.step();
    expect(h.backend.proxyCount).toBe(0);
    expect(h.backend.arrivingCount).toBe(0);
    for (const v of h.verdicts) v(true);
    await h.step();
    expect(h.sessions.length).toBe(0);
    expect(h.backend.stats.migration.arrivals).toBe(0);
  });

  it('a proxy outside allowedProxies is refused before the stream is accepted, with a reason', async () => {
    const h = await harness({ allowedProxies: ['proxy-1'] });
    const refusal = await h.connect('mallory').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(StreamRefusedError);
    expect((refusal as StreamRefusedError).reason).toMatch(/proxy 'mallory' is not allowed/);
    expect(h.backend.stats.proxiesRefused).toBe(1);
    expect(h.backend.stats.proxiesConnected).toBe(1); // the allowed one only
  });
});
