import { describe, expect, it } from 'vitest';
import { Client } from '../client/Client.js';
import { defineProtocol, message, t } from '../index.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { generateIssuerKeys } from '../session/node/keys.js';
import { MemoryHub } from '../transport/browser.js';
import { ManualClock } from '../util/Clock.js';
import { Server } from './Server.js';

const Say = message('Say', { text: t.string(50) });
const Hear = message('Hear', { text: t.string(50) });
const protocol = defineProtocol({
  tickRate: 20,
  messages: [Say, Hear],
  channels: {
    up: { mode: 'ordered-reliable', direction: 'client-to-server' },
    down: { mode: 'ordered-reliable', direction: 'server-to-client' },
  },
});

async function world(n: number) {
  const clock = new ManualClock();
  const hub = new MemoryHub({ clock });
  const server = new Server(protocol, { clock, authenticator: new OfflineAuthenticator() });
  const address = await server.listen(hub.server());
  const clients = Array.from({ length: n }, () => new Client(protocol, { clock }));
  const step = async () => {
    await new Promise((r) => setImmediate(r));
    hub.advance(50);
    server.step();
    for (const c of clients) c.step();
  };
  const pending = clients.map((c, i) => c.connect(hub.client(address), { username: `p${i}` }));
  for (let i = 0; i < 40 && !clients.every((c) => c.connected); i++) await step();
  await Promise.all(pending);
  return { clock, hub, server, clients, step };
}

describe('Server API', () => {
  it('broadcasts once-encoded messages, honours channel directions, unsubscribes typed handlers', async () => {
    const { hub, server, clients, step } = await world(3);
    expect(server.users).toHaveLength(3);
    const heard: string[] = [];
    for (const c of clients) c.onMessage(Hear, (v) => heard.push(v.text));
    server.broadcast('down', Hear, { text: 'all' });
    expect(() => server.broadcast('up', Hear, { text: 'x' })).toThrow(/client-to-server/);
    expect(() => clients[0].send('down', Say, { text: 'x' })).toThrow(/server-to-client/);
    expect(() => server.send(server.users[0], 'down', message('Nope', {}), {})).toThrow(/not registered/);

    const said: string[] = [];
    const off = server.onMessage(Say, (u, v, channel) => said.push(`${u.username}/${channel}/${v.text}`));
    clients[1].send('up', Say, { text: 'one' });
    for (let i = 0; i < 5; i++) await step();
    off();
    clients[1].send('up', Say, { text: 'two' });
    for (let i = 0; i < 5; i++) await step();
    expect(heard).toEqual(['all', 'all', 'all']);
    expect(said).toEqual(['p1/up/one']);
    expect(server.stats.messagesIn).toBe(2);
    expect(server.stats.messagesOut).toBe(3);
    expect(server.user(server.users[0].id)).toBe(server.users[0]);
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
    await hub.close();
  });

  it('ignores sends to a disconnected user and reports why it left', async () => {
    const { hub, server, clients, step } = await world(1);
    const user = server.users[0];
    server.disconnect(user, 'bye');
    expect(user.connected).toBe(false);
    expect(user.disconnectReason).toBe('bye');
    server.send(user, 'down', Hear, { text: 'late' }); // no throw
    const reasons: string[] = [];
    clients[0].on('disconnect', (r) => reasons.push(r));
    for (let i = 0; i < 5; i++) await step();
    expect(reasons).toEqual(['bye']);
    await server.close();
    await hub.close();
  });

  it('needs authentication configured: identity keys (the default, Ed25519) or an explicit authenticator', () => {
    expect(() => new Server(protocol)).toThrow(
      /`identityKeys`.*`authenticator`.*new OfflineAuthenticator\(\)/s,
    );
    const issuer = generateIssuerKeys('k1');
    expect(() => new Server(protocol, { identityKeys: {} })).toThrow(/empty/);
    expect(
      () =>
        new Server(protocol, {
          identityKeys: { k1: issuer.publicKey },
          authenticator: new OfflineAuthenticator(),
        }),
    ).toThrow(/not both/);
    expect(() => new Server(protocol, { identityKeys: { k1: issuer.publicKey } })).not.toThrow();
    expect(() => new Server(protocol, { authenticator: new OfflineAuthenticator() })).not.toThrow();
  });
});
