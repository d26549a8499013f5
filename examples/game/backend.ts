/**
 * A game backend as you would write one: players arrive through the proxy over mutual TLS,
 * each gets an avatar that follows its inputs, and the avatar carries over when the proxy
 * migrates the player to another backend. SIGTERM drains it: its players move seamlessly to
 * the other backends, then it exits.
 *
 *   BACKEND_ID=backend-1 PORT=9101 CERTS=examples/.dev [METRICS_PORT=9201] \
 *     tsx --tsconfig examples/tsconfig.json examples/game/backend.ts
 *
 * Certificates (from CERTS): backend.crt/backend.key (its server certificate) and ca.crt. Its
 * ticket key pair is made at start; the public half is written to CERTS/<id>.ticket.pub.pem for
 * the proxy's config and for the other backends, which verify the tickets it signs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { Entity } from 'baton-net';
import { generateEd25519KeyPair, InMemoryNonceStore } from 'baton-net/cluster';
import { OfflineAuthenticator, Server, tlsStreamServer, type User } from 'baton-net/server';
import { Input, Position, Processed, protocol } from './protocol.js';

const id = process.env.BACKEND_ID ?? 'backend-1';
const port = Number(process.env.PORT ?? 9101);
const certs = process.env.CERTS ?? 'examples/.dev';

// development: any identity; in production pass `identityKeys` (signed identity tokens)
const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), name: id });
const room = server.createRoom();
const avatars = new Map<User, Entity>();
const arriving = new Set<User>();

server.on('connect', (user) => {
  room.addUser(user);
  if (arriving.delete(user)) return; // migrated here: its avatar came with it
  const avatar = server.spawn().insert(Position, { x: 0, y: 0 });
  avatars.set(user, avatar);
  room.addEntity(avatar);
});
server.on('disconnect', (user) => {
  avatars.get(user)?.despawn();
  avatars.delete(user);
});
server.onMessage(Input, (user, input) => {
  const p = avatars.get(user)?.get(Position);
  if (p) {
    p.x += input.dx;
    p.y += input.dy;
  }
  server.send(user, 'acks', Processed, { seq: input.seq, backend: id });
});

// seamless migration: the avatar carries over (the client keeps the same entity)
server.migration = {
  carried: (user) => {
    const avatar = avatars.get(user);
    return avatar?.alive ? [...server.defaultCarried(user), avatar.id] : server.defaultCarried(user);
  },
  restore: (user, _state, info) => {
    if (info.phase === 'arrive') {
      arriving.add(user);
      return;
    }
    const avatar = info.carried.map((e) => server.entity(e)).find((e) => e?.has(Position));
    if (avatar) avatars.set(user, avatar);
  },
};

// tickets: signed with our private key, verified with the other backends' published public keys
const ticketKeys = generateEd25519KeyPair();
writeFileSync(
  join(certs, `${id}.ticket.pub.pem`),
  ticketKeys.publicKey.export({ format: 'pem', type: 'spki' }),
);
const address = await server.listenProxies(
  tlsStreamServer({
    cert: readFileSync(join(certs, 'backend.crt'), 'utf8'),
    key: readFileSync(join(certs, 'backend.key'), 'utf8'),
    ca: readFileSync(join(certs, 'ca.crt'), 'utf8'),
    host: '127.0.0.1',
    port,
  }),
  {
    backendId: id,
    tickets: {
      privateKey: ticketKeys.privateKey,
      publicKeyOf: async (backend) => {
        try {
          return readFileSync(join(certs, `${backend}.ticket.pub.pem`), 'utf8');
        } catch {
          return undefined;
        }
      },
      // a ticket names its target backend, so single use per backend is enough here
      nonceStore: new InMemoryNonceStore(),
    },
  },
);
console.log(`${id}: taking players from proxies on tls://127.0.0.1:${address.port}`);

// Prometheus metrics of this backend (users, entities, tick durations, RTT, …) on METRICS_PORT
const metricsPort = process.env.METRICS_PORT;
const metricsHttp =
  metricsPort === undefined
    ? undefined
    : createServer(async (_req, res) => {
        res.writeHead(200, { 'content-type': server.metrics.registry.contentType });
        res.end(await server.metrics.text());
      }).listen(Number(metricsPort), '127.0.0.1');

process.once('SIGTERM', async () => {
  const { moved, remaining } = await server.drain({ timeoutMs: 15_000 });
  metricsHttp?.close();
  console.log(`${id}: drained (${moved} players moved, ${remaining} left), exiting`);
  process.exit(0);
});
process.once('SIGINT', async () => {
  await server.close('backend stopped');
  metricsHttp?.close();
  process.exit(0);
});
