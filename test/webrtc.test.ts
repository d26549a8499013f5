import { describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { OfflineAuthenticator, Server, webrtcClient, webrtcServer } from '../src/server/index.js';
import { conditionedClient } from '../src/transport/ConditionedClient.js';
import { newClient, startBackend, startProxy, useClusterFixture } from './helpers/cluster.js';
import { Chat, protocol, State } from './helpers/protocol.js';
import { waitFor } from './helpers/transports.js';

/**
 * WebRTC data channels as a player transport, in Node on loopback: node-datachannel on the
 * server side, its W3C RTCPeerConnection polyfill on the client side (the same client code a
 * browser runs with its own), signalled over a WebSocket, host candidates on 127.0.0.1 only.
 */
describe('WebRTC data channel transport', () => {
  const fixture = useClusterFixture();

  it('a direct server accepts a WebRTC client: ordered messages echoed, unreliable state, close with a reason', async () => {
    const server = new Server(protocol, { authenticator: new OfflineAuthenticator() });
    fixture.open.push({ close: () => server.close() });
    server.onMessage(Chat, (user, value) => server.send(user, 'chat', Chat, value));
    const reasons: string[] = [];
    server.on('disconnect', (_u, reason) => reasons.push(reason));
    const address = await server.listen(webrtcServer({ host: '127.0.0.1', port: 0 }));
    expect(address.transport).toBe('webrtc');

    const client = new Client(protocol);
    fixture.open.push({ close: () => client.close() });
    const echoed: string[] = [];
    client.onMessage(Chat, (v) => echoed.push(v.text));
    const ticks: number[] = [];
    client.onMessage(State, (v) => ticks.push(v.tick));
    await client.connect(webrtcClient(address), { username: 'rtc' });
    expect(server.users.map((u) => u.address)).toEqual([expect.stringMatching(/^webrtc:rtc#\d+$/)]);

    for (let i = 0; i < 100; i++) client.send('chat', Chat, { from: 1, text: `m${i}` });
    const user = server.users[0];
    for (let i = 1; i <= 50; i++) server.send(user, 'state', State, { tick: i, x: i, y: 0 });
    expect(await waitFor(() => echoed.length === 100 && ticks.length === 50, 10_000)).toBe(true);
    expect(echoed).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(new Set(ticks).size).toBe(ticks.length);

    await client.close('rtc done');
    expect(await waitFor(() => reasons.length > 0, 5000)).toBe(true);
    expect(reasons).toEqual(['rtc done']);
  });

  it('through the proxy with 20 % loss each way: reliable messages all arrive once and in order', async () => {
    const registry = new InMemoryRegistry();
    const backend = await startBackend(fixture.certs, registry, 'b1');
    fixture.open.push({ close: () => backend.server.close() });
    backend.server.onMessage(Chat, (user, value) => backend.server.send(user, 'chat', Chat, value));
    const got: string[] = [];
    backend.server.onMessage(Chat, (_u, value) => got.push(value.text));
    const { proxy } = await startProxy(fixture.certs, registry, {
      listen: [webrtcServer({ host: '127.0.0.1', port: 0 })],
    });
    fixture.open.push({ close: () => proxy.close() });
    const [address] = proxy.listenAddresses;
    expect(address.transport).toBe('webrtc');

    const client = newClient();
    fixture.open.push({ close: () => client.close() });
    const disconnects: string[] = [];
    client.on('disconnect', (reason) => disconnects.push(reason));
    const echoed: string[] = [];
    client.onMessage(Chat, (v) => echoed.push(v.text));
    const transport = conditionedClient(webrtcClient(address), { loss: 0.2 }, 7);
    await client.connect(transport, { username: 'lossy' });

    const count = 200;
    for (let i = 0; i < count; i++) client.send('chat', Chat, { from: 2, text: `r${i}` });
    expect(await waitFor(() => echoed.length >= count, 30_000)).toBe(true);
    const want = Array.from({ length: count }, (_, i) => `r${i}`);
    expect(got).toEqual(want);
    expect(echoed).toEqual(want);
    expect(disconnects).toEqual([]);
    expect(proxy.sessions()[0].address).toMatch(/^webrtc:rtc#\d+$/);
  });
});
