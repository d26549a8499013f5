import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, ConnectError } from '../src/client/index.js';
import { Server } from '../src/server/index.js';
import type { AuthRequest } from '../src/session/Authenticator.js';
import type {
  DatagramClientSocket,
  DatagramClientTransport,
  TransportAddress,
} from '../src/transport/types.js';
import { udpServer } from '../src/transport/UdpTransport.js';
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
      // the rejected session lingers this long, resending its ConnectReject to the old address
      lingerMs: 3000,
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
});
