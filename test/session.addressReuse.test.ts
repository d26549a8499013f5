import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, ConnectError } from '../src/client/index.js';
import { LinkConnection } from '../src/link/index.js';
import { Server } from '../src/server/index.js';
import type { AuthRequest } from '../src/session/Authenticator.js';
import { ClientSession } from '../src/session/ClientSession.js';
import { defaultLinkFactory } from '../src/session/defaultLink.js';
import { linkChannelsFor } from '../src/session/linkTypes.js';
import { CONTROL_CHANNEL } from '../src/session/Protocol.js';
import { encodeSessionPacket } from '../src/session/packets/codec.js';
import { decodeConnectFragment, encodeSessionLink } from '../src/session/packets/connectionless.js';
import { RejectCode } from '../src/session/packets/kinds.js';
import type {
  DatagramClientSocket,
  DatagramClientTransport,
  TransportAddress,
} from '../src/transport/types.js';
import { udpServer } from '../src/transport/UdpTransport.js';
import { ManualClock } from '../src/util/Clock.js';
import { protocol } from './helpers/protocol.js';

/**
 * A UDP client transport whose socket binds a chosen local port: a player whose new attempt
 * comes from the address of an earlier one (a restarted game, a NAT reusing a mapping).
 */
function udpClientFrom(localPort: () => number, server: TransportAddress, onBound: (port: number) => void) {
  const transport: DatagramClientTransport = {
    kind: 'udp',
    async connect(): Promise<DatagramClientSocket> {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(localPort(), '127.0.0.1', () => {
          socket.connect(server.port, server.host, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      });
      onBound(socket.address().port);
      let open = true;
      const client: DatagramClientSocket = {
        maxDatagramSize: 65507,
        onDatagram: () => {},
        onClosed: () => {},
        send(data) {
          if (open) socket.send(Buffer.from(data), () => {});
        },
        close() {
          if (!open) return Promise.resolve();
          open = false;
          return new Promise((resolve) => socket.close(() => resolve()));
        },
      };
      socket.on('message', (m) => {
        if (open) client.onDatagram(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
      });
      socket.on('error', () => {});
      return client;
    },
  };
  return transport;
}

describe('a new connection attempt from the address of a rejected one', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('is judged on its own: accepted, never handed the old rejection (real UDP)', async () => {
    const server = new Server(protocol, {
      handshakeTimeoutMs: 8000,
      // the rejected session would linger far longer than the next attempt's handshake deadline,
      // resending its ConnectReject to the old address
      lingerMs: 30_000,
      authenticator: {
        authenticate: (r: AuthRequest) =>
          r.connect.username === 'banned' ? { ok: false, reason: 'you are banned' } : { ok: true },
      },
    });
    open.push(server);
    const address = await server.listen(udpServer());
    let port = 0;
    const transport = () =>
      udpClientFrom(
        () => port,
        address,
        (p) => {
          port = p;
        },
      );

    for (let round = 0; round < 3; round++) {
      const first = new Client(protocol, { handshakeTimeoutMs: 8000 });
      open.push(first);
      const error = await first.connect(transport(), { username: 'banned' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).message).toContain('you are banned');
      await first.close();

      // the same address at once, while the rejected session still lingers on the server
      const second = new Client(protocol, { handshakeTimeoutMs: 8000 });
      open.push(second);
      const outcome = await second.connect(transport(), { username: `ann${round}` }).then(
        () => 'accepted',
        (e: unknown) => `refused: ${(e as Error).message}`,
      );
      expect(outcome).toBe('accepted');
      expect(server.users.map((u) => u.username)).toContain(`ann${round}`);
      await second.close();
    }
  }, 60_000);

  it('the client takes link packets only from the session opened for its own attempt', async () => {
    const clock = new ManualClock(0);
    const sent: Uint8Array[] = [];
    const socket: DatagramClientSocket = {
      maxDatagramSize: 1200,
      onDatagram: () => {},
      onClosed: () => {},
      send: (d) => sent.push(d.slice()),
      close: async () => {},
    };
    let failure: unknown;
    const session = new ClientSession({
      protocol,
      clock,
      linkFactory: defaultLinkFactory,
      onAccepted: () => {},
      onControl: () => {},
      onClosed: () => {},
    });
    session
      .connect(
        { kind: 'udp', connect: async () => socket },
        { uuid: '00000000-0000-4000-8000-000000000009', username: 'ann' },
      )
      .catch((e) => (failure = e));
    await new Promise((r) => setImmediate(r));
    const nonce = decodeConnectFragment(sent[0]).nonce;

    // a server link of an older session on this address: its AuthGrant and ConnectReject
    const serverLink = () => {
      const out: Uint8Array[] = [];
      const link = new LinkConnection({
        channels: linkChannelsFor(protocol),
        role: 'server',
        clock,
        send: (p) => out.push(p.slice()),
      });
      return { link, out };
    };
    const old = serverLink();
    const grant = (g: number) =>
      encodeSessionPacket({
        type: 'AuthGrant',
        authorizationGrant: new Uint8Array(16).fill(g),
        serverIdentityToken: new Uint8Array(0),
      });
    old.link.send(CONTROL_CHANNEL, grant(1));
    old.link.send(
      CONTROL_CHANNEL,
      encodeSessionPacket({ type: 'ConnectReject', code: RejectCode.AuthFailed, reason: 'you are banned' }),
    );
    old.link.flush();
    for (const p of old.out) socket.onDatagram(p);
    session.step();
    expect(session.state).toBe('connecting');
    expect(session.stats.dropped.unbound).toBe(old.out.length);

    // the session opened for this attempt speaks in SessionLink envelopes with our nonce
    const mine = serverLink();
    mine.link.send(CONTROL_CHANNEL, grant(2));
    mine.link.flush();
    for (const p of mine.out) socket.onDatagram(encodeSessionLink(nonce ^ 1, p)); // another attempt's
    session.step();
    expect(session.state).toBe('connecting');
    for (const p of mine.out) socket.onDatagram(encodeSessionLink(nonce, p));
    session.step();
    expect(session.state).toBe('authenticating');
    expect(failure).toBeUndefined();
    await session.close();
  });
});
