import { describe, expect, it } from 'vitest';
import { type Client, ConnectError, RejectCode } from '../src/client/index.js';
import {
  Ed25519Authenticator,
  generateIssuerKeys,
  IdentityRejection,
  mintIdentityToken,
} from '../src/server/index.js';
import { decodeConnectionlessReject } from '../src/session/packets/connectionless.js';
import { Chat, Input, otherProtocol } from './helpers/protocol.js';
import { RawPeer } from './helpers/rawPeer.js';
import { Sim } from './helpers/sim.js';

const UUID = '6b1f6c1e-7a43-4c58-9d0e-3f2b2a9c8d11';

async function connected(sim: Sim, name = 'ann', options = {}) {
  const client = sim.client(options);
  const r = await sim.settleWithin(client.connect(sim.hub.client(sim.address), { username: name }));
  if (r.error) throw r.error;
  return client;
}

async function rejection(sim: Sim, client: Client<any>, opts: Parameters<Client['connect']>[1]) {
  const r = await sim.settleWithin(client.connect(sim.hub.client(sim.address), opts));
  expect(r.error).toBeInstanceOf(ConnectError);
  return r.error as ConnectError;
}

describe('session handshake over the memory hub (manual clock)', () => {
  it('accepts a client and exchanges messages both ways', async () => {
    const sim = await new Sim({ server: { name: 'arena', motd: 'hello', maxPlayers: 8 } }).listen();
    const connectedNames: string[] = [];
    sim.server.on('connect', (u) => connectedNames.push(u.username));
    const client = sim.client();
    const r = await sim.settleWithin(
      client.connect(sim.hub.client(sim.address), { username: 'ann', uuid: UUID }),
    );
    expect(r.error).toBeUndefined();
    expect(r.value?.clientId).toBe(1);
    expect(client.id).toBe(1);
    expect(r.value?.serverInfo).toEqual({ name: 'arena', motd: 'hello', maxPlayers: 8 });
    expect(connectedNames).toEqual(['ann']);
    const user = sim.server.users[0];
    expect(user).toMatchObject({ id: 1, username: 'ann', uuid: UUID, clientType: 'game', language: 'en' });
    expect(user.address).toMatch(/^memory:mem#/);

    const got: string[] = [];
    sim.server.onMessage(Chat, (u, v) => got.push(`${u.username}:${v.text}`));
    const back: string[] = [];
    client.onMessage(Chat, (v) => back.push(v.text));
    client.send('chat', Chat, { from: 0, text: 'hi' });
    sim.server.send(user, 'chat', Chat, { from: 0, text: 'welcome' });
    expect(await sim.until(() => got.length === 1 && back.length === 1)).toBe(true);
    expect(got).toEqual(['ann:hi']);
    expect(back).toEqual(['welcome']);
    expect(await sim.until(() => user.ready)).toBe(true); // ClientReady answered the auto JoinWorld
    await sim.close();
  });

  it('carries setup packets: ViewRadius, PlayerOptions, WorldSettings, referral', async () => {
    const sim = await new Sim({ server: { worldSettings: Uint8Array.of(1, 2, 3) } }).listen();
    const client = await connected(sim);
    expect(client.worldSettings).toEqual(Uint8Array.of(1, 2, 3));
    const seen: unknown[] = [];
    sim.server.on('viewRadius', (_u, r) => seen.push(r));
    sim.server.on('playerOptions', (_u, d) => seen.push([...d]));
    client.setViewRadius(64);
    client.setPlayerOptions(Uint8Array.of(9));
    expect(await sim.until(() => seen.length === 2)).toBe(true);
    expect(seen).toEqual([64, [9]]);

    const referral: unknown[] = [];
    const reasons: string[] = [];
    client.on('referral', (r) => referral.push(r));
    client.on('disconnect', (reason) => reasons.push(reason));
    sim.server.refer(sim.server.users[0], 'other.example', 7777, Uint8Array.of(5));
    expect(await sim.until(() => reasons.length === 1)).toBe(true);
    expect(referral).toEqual([{ host: 'other.example', port: 7777, data: Uint8Array.of(5) }]);
    expect(reasons).toEqual(['referred to other.example:7777']);
    await sim.close();
  });

  it('rejects a protocol-hash mismatch statelessly with a clear reason', async () => {
    const sim = await new Sim().listen();
    const client = sim.client({}, otherProtocol);
    const e = await rejection(sim, client, { username: 'ann' });
    expect(e.kind).toBe('rejected');
    expect(e.rejectCode).toBe(RejectCode.ProtocolMismatch);
    expect(e.reason).toContain('protocol mismatch');
    expect(e.reason).toContain(sim.server.protocol.hashHex);
    expect(e.reason).toContain(otherProtocol.hashHex);
    expect(sim.server.stats.handshakesStarted).toBe(0);
    expect(sim.server.stats.statelessRejects).toBe(1);
    await sim.close();
  });

  describe('Ed25519 identity tokens', () => {
    const issuer = generateIssuerKeys('issuer-1');
    const forger = generateIssuerKeys('issuer-1');
    const now = Date.now();
    const authenticator = new Ed25519Authenticator({
      publicKeys: { 'issuer-1': issuer.publicKey },
      now: () => now,
    });
    const token = (o: Partial<Parameters<typeof mintIdentityToken>[0]> = {}): Uint8Array =>
      mintIdentityToken({
        uuid: UUID,
        username: 'ann',
        keyId: 'issuer-1',
        privateKey: issuer.privateKey,
        ...o,
      });

    it('accepts a valid token', async () => {
      const sim = await new Sim({ server: { authenticator } }).listen();
      const client = sim.client();
      const r = await sim.settleWithin(
        client.connect(sim.hub.client(sim.address), { username: 'ann', uuid: UUID, identityToken: token() }),
      );
      expect(r.error).toBeUndefined();
      expect(sim.server.users[0].identityToken?.length).toBeGreaterThan(64);
      await sim.close();
    });

    it.each<[string, () => Uint8Array | undefined, string]>([
      ['bad signature', () => token({ privateKey: forger.privateKey }), IdentityRejection.badSignature],
      [
        'expired',
        () => token({ issuedAt: Math.floor(now / 1000) - 7200, ttlSeconds: 60 }),
        IdentityRejection.expired,
      ],
      [
        'uuid mismatch',
        () => token({ uuid: '6b1f6c1e-7a43-4c58-9d0e-000000000000' }),
        IdentityRejection.uuidMismatch,
      ],
      ['missing', () => undefined, IdentityRejection.missing],
    ])('rejects a %s token with a distinct reason on both sides', async (_name, make, reason) => {
      const sim = await new Sim({ server: { authenticator } }).listen();
      const rejects: string[] = [];
      sim.server.on('reject', (_addr, why) => rejects.push(why));
      const e = await rejection(sim, sim.client(), { username: 'ann', uuid: UUID, identityToken: make() });
      expect(e.kind).toBe('rejected');
      expect(e.rejectCode).toBe(RejectCode.AuthFailed);
      expect(e.reason).toBe(reason);
      expect(rejects).toEqual([reason]);
      expect(sim.server.users).toHaveLength(0);
      await sim.tick(60); // linger ends
      expect(sim.server.stats.pendingHandshakes).toBe(0);
      await sim.close();
    });
  });

  it('times out a silent peer on both sides', async () => {
    const sim = await new Sim({ server: { link: { timeoutMs: 1000 } } }).listen();
    const client = await connected(sim, 'ann', { link: { timeoutMs: 1000 } });
    const serverSide: string[] = [];
    const clientSide: string[] = [];
    sim.server.on('disconnect', (u, reason) => serverSide.push(`${u.username}:${reason}`));
    client.on('disconnect', (reason) => clientSide.push(reason));
    for (const link of sim.hub.links()) link.partition();
    expect(await sim.until(() => serverSide.length === 1 && clientSide.length === 1, 200)).toBe(true);
    expect(serverSide).toEqual(['ann:timed out']);
    expect(clientSide).toEqual(['timed out']);
    expect(sim.server.users).toHaveLength(0);
    await sim.close();
  });

  it('a Disconnect reason is seen on both sides (server kicks, client leaves)', async () => {
    const sim = await new Sim().listen();
    const ann = await connected(sim, 'ann');
    const bob = await connected(sim, 'bob');
    const serverSide: string[] = [];
    const clientSide: string[] = [];
    sim.server.on('disconnect', (u, reason) => serverSide.push(`${u.username}:${reason}`));
    ann.on('disconnect', (reason) => clientSide.push(`ann:${reason}`));
    bob.on('disconnect', (reason) => clientSide.push(`bob:${reason}`));
    sim.server.disconnect(sim.server.users.find((u) => u.username === 'ann')!, 'kicked for testing');
    await bob.close('gone fishing');
    expect(await sim.until(() => clientSide.length === 2 && serverSide.length === 2)).toBe(true);
    expect(serverSide.sort()).toEqual(['ann:kicked for testing', 'bob:gone fishing']);
    expect(clientSide.sort()).toEqual(['ann:kicked for testing', 'bob:gone fishing']);
    await sim.close();
  });

  it('server close tells every client why', async () => {
    const sim = await new Sim().listen();
    const ann = await connected(sim, 'ann');
    const reasons: string[] = [];
    ann.on('disconnect', (r) => reasons.push(r));
    await sim.server.close('maintenance');
    await sim.until(() => reasons.length > 0, 10);
    expect(reasons).toEqual(['maintenance']);
    await sim.close();
  });

  it('bounds pending handshakes: beyond the bound → "server busy"; freed after the handshake timeout', async () => {
    const sim = await new Sim({
      server: { maxPendingHandshakes: 3, handshakeTimeoutMs: 1000, lingerMs: 100 },
    }).listen();
    const raws: RawPeer[] = [];
    for (let i = 0; i < 10; i++) {
      const raw = await RawPeer.open(sim.hub.client(sim.address));
      raw.connect({}, 100 + i); // echoes the cookie, never answers AuthGrant
      raws.push(raw);
    }
    await sim.tick(3);
    expect(sim.server.stats.pendingHandshakes).toBe(3);
    const busy = raws.filter((r) => r.received.some((d) => d[0] === 0x41));
    expect(busy).toHaveLength(7);
    const reject = decodeConnectionlessReject(busy[0].received.find((d) => d[0] === 0x41)!);
    expect(reject.reject).toMatchObject({ code: RejectCode.ServerBusy, reason: 'server busy' });

    const e = await rejection(sim, sim.client(), { username: 'late' });
    expect(e.rejectCode).toBe(RejectCode.ServerBusy);

    await sim.tick(Math.ceil(1200 / sim.tickMs));
    expect(sim.server.stats.pendingHandshakes).toBe(0);
    await connected(sim, 'after');
    expect(sim.server.users.map((u) => u.username)).toEqual(['after']);
    for (const r of raws) await r.close();
    await sim.close();
  });

  it('never sends an unvalidated peer more than it sent (no reflection amplification)', async () => {
    const sim = await new Sim().listen();
    const raw = await RawPeer.open(sim.hub.client(sim.address));
    raw.connect();
    await sim.tick(200); // 4 s: the link would retransmit AuthGrant and heartbeat many times
    expect(raw.received.length).toBeGreaterThan(0);
    expect(raw.receivedBytes).toBeLessThanOrEqual(raw.sentBytes);
    expect(sim.server.stats.dropped.amplification).toBeGreaterThan(0);

    const mismatch = await RawPeer.open(sim.hub.client(sim.address));
    mismatch.connect({ protocolHash: 1n });
    await sim.tick(3);
    expect(mismatch.retries).toBe(1);
    expect(mismatch.replies).toHaveLength(1);
    expect(mismatch.replies[0][0]).toBe(0x41);
    expect(mismatch.receivedBytes).toBeLessThanOrEqual(mismatch.sentBytes);
    await raw.close();
    await mismatch.close();
    await sim.close();
  });

  it('a handshake the server never answers times out on the client', async () => {
    const sim = new Sim();
    const socket = await sim.hub.server().listen(); // nobody behind it
    const client = sim.client({ handshakeTimeoutMs: 500 });
    const r = await sim.settleWithin(client.connect(sim.hub.client(socket.address), { username: 'ann' }));
    expect(r.error).toBeInstanceOf(ConnectError);
    expect((r.error as ConnectError).kind).toBe('timeout');
    expect(client.stats.connectAttempts).toBeGreaterThan(1); // Connect was resent
    await socket.close();
    await sim.close();
  });

  it('reassembles a fragmented Connect (4096 bytes of referral data)', async () => {
    const sim = await new Sim().listen();
    const referralData = new Uint8Array(4096).map((_, i) => i * 7);
    const client = sim.client();
    const r = await sim.settleWithin(
      client.connect(sim.hub.client(sim.address), { username: 'ann', referralData }),
    );
    expect(r.error).toBeUndefined();
    expect(sim.server.users[0].referralData).toEqual(referralData);
    expect(sim.server.stats.reassembly.entries).toBe(0);
    await sim.close();
  });

  it('rejects beyond maxPlayers with "server full"', async () => {
    const sim = await new Sim({ server: { maxPlayers: 1 } }).listen();
    await connected(sim, 'ann');
    const e = await rejection(sim, sim.client(), { username: 'bob' });
    expect(e.rejectCode).toBe(RejectCode.ServerFull);
    await sim.close();
  });

  it('delivers tick-buffered input in the server step of the tick it was tagged with', async () => {
    const sim = await new Sim({ conditioner: { latencyMs: 40, jitterMs: 10 } }).listen();
    const client = await connected(sim);
    const deliveries: [number, number][] = [];
    sim.server.onMessage(Input, (_u, v) => deliveries.push([v.seq, sim.server.tick]));
    for (let i = 0; i < 50; i++) {
      client.send('input', Input, { seq: client.tick, dx: 1, dy: 0 });
      await sim.tick();
    }
    await sim.tick(20);
    expect(deliveries).toHaveLength(50);
    for (const [tagged, at] of deliveries) expect(at).toBe(tagged);
    await sim.close();
  });
});
