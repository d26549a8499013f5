import { afterEach, describe, expect, it } from 'vitest';
import { Client, ConnectError, RejectCode } from '../src/client/index.js';
import {
  Ed25519Authenticator,
  generateIssuerKeys,
  IdentityRejection,
  mintIdentityToken,
  OfflineAuthenticator,
  Server,
  type ServerOptions,
} from '../src/server/index.js';
import type { TransportAddress } from '../src/transport/types.js';
import { Chat, otherProtocol, protocol } from './helpers/protocol.js';
import { RawPeer } from './helpers/rawPeer.js';
import { type TransportKit, transportKits, waitFor } from './helpers/transports.js';

/**
 * The same session scenarios over every transport, on real time and real sockets
 * (127.0.0.1, port 0): UDP, WebSocket, and the memory hub on timers.
 */
for (const makeKit of transportKits()) {
  const probe = makeKit();
  void probe.close();
  describe(`session over ${probe.name}`, () => {
    let kit: TransportKit;
    const open: { close(): Promise<void> }[] = [];

    async function start(options: ServerOptions = {}) {
      kit = makeKit();
      const server = new Server(protocol, {
        handshakeTimeoutMs: 5000,
        authenticator: options.identityKeys ? undefined : new OfflineAuthenticator(),
        ...options,
      });
      open.push(server);
      const address = await server.listen(kit.server());
      return { server, address };
    }

    function client(p = protocol) {
      const c = new Client(p, { handshakeTimeoutMs: 5000 });
      open.push(c);
      return c;
    }

    async function connectError(
      c: Client<any>,
      address: TransportAddress,
      opts: Parameters<Client['connect']>[1],
    ) {
      const error = await c.connect(kit.client(address), opts).then(
        () => undefined,
        (e) => e,
      );
      expect(error).toBeInstanceOf(ConnectError);
      return error as ConnectError;
    }

    afterEach(async () => {
      for (const o of open.splice(0).reverse()) await o.close();
      await kit.close();
    });

    it('accepts and exchanges messages', async () => {
      const { server, address } = await start();
      const got: string[] = [];
      server.onMessage(Chat, (u, v) => {
        got.push(v.text);
        server.send(u, 'chat', Chat, { from: u.id, text: `echo ${v.text}` });
      });
      const c = client();
      const echoes: string[] = [];
      c.onMessage(Chat, (v) => echoes.push(v.text));
      const info = await c.connect(kit.client(address), { username: 'ann' });
      expect(info.clientId).toBeGreaterThan(0);
      expect(server.users.map((u) => u.username)).toEqual(['ann']);
      for (let i = 0; i < 5; i++) c.send('chat', Chat, { from: 0, text: `m${i}` });
      expect(await waitFor(() => echoes.length === 5)).toBe(true);
      expect(echoes).toEqual(['echo m0', 'echo m1', 'echo m2', 'echo m3', 'echo m4']);
      expect(c.rttMs).toBeGreaterThan(0);
    });

    it('rejects a protocol mismatch with a clear reason', async () => {
      const { address } = await start();
      const e = await connectError(client(otherProtocol), address, { username: 'ann' });
      expect(e.rejectCode).toBe(RejectCode.ProtocolMismatch);
      expect(e.reason).toMatch(/protocol mismatch/);
    });

    it('rejects a bad identity token', async () => {
      const issuer = generateIssuerKeys('k');
      const forger = generateIssuerKeys('k');
      const { address } = await start({
        authenticator: new Ed25519Authenticator({ publicKeys: { k: issuer.publicKey } }),
      });
      const uuid = '6b1f6c1e-7a43-4c58-9d0e-3f2b2a9c8d11';
      const identityToken = mintIdentityToken({
        uuid,
        username: 'ann',
        keyId: 'k',
        privateKey: forger.privateKey,
      });
      const e = await connectError(client(), address, { username: 'ann', uuid, identityToken });
      expect(e.rejectCode).toBe(RejectCode.AuthFailed);
      expect(e.reason).toBe(IdentityRejection.badSignature);
    });

    it('a disconnect reason is seen on both sides', async () => {
      const { server, address } = await start();
      const serverSide: string[] = [];
      server.on('disconnect', (u, r) => serverSide.push(`${u.username}:${r}`));
      const ann = client();
      const bob = client();
      const annSide: string[] = [];
      ann.on('disconnect', (r) => annSide.push(r));
      await ann.connect(kit.client(address), { username: 'ann' });
      await bob.connect(kit.client(address), { username: 'bob' });
      server.disconnect(server.users.find((u) => u.username === 'ann')!, 'kicked');
      await bob.close('bye now');
      expect(await waitFor(() => annSide.length === 1 && serverSide.length === 2)).toBe(true);
      expect(annSide).toEqual(['kicked']);
      expect(serverSide.sort()).toEqual(['ann:kicked', 'bob:bye now']);
    });

    it('times out a silent peer', async () => {
      const { server, address } = await start({ link: { timeoutMs: 400, heartbeatIntervalMs: 100 } });
      const reasons: string[] = [];
      server.on('disconnect', (_u, r) => reasons.push(r));
      const c = client();
      await c.connect(kit.client(address), { username: 'ann' });
      c.stop(); // the client goes silent without closing anything
      expect(await waitFor(() => reasons.length === 1, 3000)).toBe(true);
      expect(reasons).toEqual(['timed out']);
    });

    it('bounds pending handshakes', async () => {
      const { server, address } = await start({ maxPendingHandshakes: 1 });
      const raw = await RawPeer.open(kit.client(address));
      open.push(raw);
      raw.connect();
      expect(await waitFor(() => server.stats.pendingHandshakes === 1)).toBe(true);
      const e = await connectError(client(), address, { username: 'late' });
      expect(e.rejectCode).toBe(RejectCode.ServerBusy);
      expect(server.stats.pendingHandshakes).toBe(1);
    });
  });
}
