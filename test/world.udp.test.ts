import { afterEach, describe, expect, it } from 'vitest';
import { Client, ConnectError, type Entity } from '../src/client/index.js';
import {
  generateIssuerKeys,
  IdentityRejection,
  mintIdentityToken,
  Server,
  udpServer,
} from '../src/server/index.js';
import { udpClient } from '../src/transport/index.js';
import { waitFor } from './helpers/transports.js';
import { Health, ownedProtocol, Position, type WorldChannels } from './helpers/worldSim.js';

/**
 * The whole path on real sockets and real time: UDP on 127.0.0.1 port 0, the default
 * Ed25519 authentication with minted identity tokens, the built-in tickers, replication both
 * ways.
 */
describe('entity replication over UDP', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('authenticates with identity tokens, replicates server entities and client-owned public ones', async () => {
    const issuer = generateIssuerKeys('test-issuer');
    const server = new Server(ownedProtocol, { identityKeys: { [issuer.keyId]: issuer.publicKey } });
    open.push(server);
    const room = server.createRoom();
    server.on('connect', (u) => room.addUser(u));
    server.on('spawn', (e) => room.addEntity(e));
    const crate = server.spawn().insert(Position, { x: 5, y: 6 }).insert(Health, { hp: 3, max: 9 });
    room.addEntity(crate);
    const address = await server.listen(udpServer({ host: '127.0.0.1', port: 0 }));

    const connect = (username: string, token = true) => {
      const client = new Client(ownedProtocol);
      open.push(client);
      const uuid = crypto.randomUUID();
      const identityToken = token
        ? mintIdentityToken({ uuid, username, keyId: issuer.keyId, privateKey: issuer.privateKey })
        : undefined;
      return { client, done: client.connect(udpClient(address), { uuid, username, identityToken }) };
    };

    // no token: the default authenticator refuses it
    const anon = connect('anon', false);
    const refused = await anon.done.then(
      () => undefined,
      (e) => e,
    );
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).reason).toBe(IdentityRejection.missing);

    const a = connect('ann');
    const b = connect('bob');
    await Promise.all([a.done, b.done]);
    const updates: string[] = [];
    a.client.on('update', (_e, c, keys) => updates.push(`${c.name}:${keys.join(',')}`));
    const remote = (c: Client<WorldChannels>) => [...c.entities()].filter((e) => !e.isLocal);
    expect(await waitFor(() => remote(a.client).length === 1 && remote(b.client).length === 1)).toBe(true);
    const copy: Entity = remote(a.client)[0];
    expect(copy.get(Health)).toMatchObject({ hp: 3, max: 9 });

    crate.get(Health).hp = 8;
    expect(await waitFor(() => copy.get(Health).hp === 8)).toBe(true);
    expect(updates).toContain('Health:hp');

    // bob's own public entity reaches ann through the server
    const flag = b.client.spawn().insert(Position, { x: 1, y: 1 }).configureReplication('public');
    expect(await waitFor(() => remote(a.client).length === 2)).toBe(true);
    flag.get(Position).x = 42;
    expect(await waitFor(() => remote(a.client).some((e) => e.tryGet(Position)?.x === 42))).toBe(true);

    crate.despawn();
    expect(await waitFor(() => remote(a.client).length === 1 && remote(b.client).length === 0)).toBe(true);
    expect(server.stats.world.framesDropped).toBe(0);
    expect(server.stats.world.bytesOut).toBeGreaterThan(0);
  });
});
