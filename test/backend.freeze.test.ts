import { describe, expect, it } from 'vitest';
import { InMemoryRegistry } from '../src/cluster/index.js';
import {
  decodeHandoff,
  encodeMuxControl,
  encodeMuxMessage,
  encodePlayerOpen,
  MuxFrame,
} from '../src/session/mux.js';
import { type StreamConnection, tlsStreamClient } from '../src/transport/stream/index.js';
import { clusterProtocol, Position, startBackend, useClusterFixture } from './helpers/cluster.js';
import { Chat, Input } from './helpers/protocol.js';
import { waitFor } from './helpers/transports.js';

/**
 * Issue 13.8: a backend really holds a player frozen from Freeze until Thaw (or close). A proxy
 * stand-in on a real mutual-TLS stream drives a real Server: no input of the player is applied
 * while frozen (chat messages, tick-buffered input), no world frame is sent to it; at Thaw the
 * held input is applied in order and world frames flow again.
 */
const fx = useClusterFixture();
const { open } = fx;

describe('backend: Freeze holds the player until Thaw', () => {
  it('no input applied and no world frames sent between Freeze and Thaw; held input applied at Thaw, in order', async () => {
    const registry = new InMemoryRegistry();
    const b = await startBackend(fx.certs, registry, 'backend-a');
    open.push(b.server);
    const room = b.server.createRoom();
    const e = b.server.spawn().insert(Position, { x: 0, y: 0 });
    room.addEntity(e);
    b.server.on('connect', (u) => room.addUser(u));
    const applied: string[] = [];
    b.server.on('message', (_u, channel, _def, value) => {
      const v = value as { from?: number; seq?: number };
      applied.push(`${channel}:${v.from ?? v.seq}`);
    });

    const proxy: StreamConnection = await tlsStreamClient({
      host: '127.0.0.1',
      port: b.port,
      cert: fx.certs.client.cert,
      key: fx.certs.client.key,
      ca: fx.certs.ca.cert,
    }).connect();
    open.push(proxy);
    const frames: { type: number; payload: Uint8Array }[] = [];
    proxy.onFrame = (type, sessionId, payload) => {
      if (sessionId === 0 && type === MuxFrame.Ping) proxy.sendFrame(MuxFrame.Pong, 0, payload);
      else if (sessionId === 7) frames.push({ type, payload: payload.slice() });
    };
    const count = (type: number) => frames.filter((f) => f.type === type).length;
    proxy.sendFrame(
      MuxFrame.PlayerOpen,
      7,
      encodePlayerOpen({
        connect: {
          type: 'Connect',
          protocolHash: clusterProtocol.hash,
          clientType: 'g',
          language: 'en',
          uuid: '00112233-4455-6677-8899-aabbccddeeff',
          username: 'frozen',
        },
        clientAddress: 'udp:127.0.0.1:9',
        clientRttMs: 5,
        authResult: new Uint8Array(0),
        referralVerified: false,
        maxWorldFrameBytes: 1100,
      }),
    );
    expect(await waitFor(() => count(MuxFrame.PlayerAccept) === 1, 5000)).toBe(true);
    proxy.sendFrame(MuxFrame.Control, 7, encodeMuxControl({ type: 'ClientReady' }));
    const chat = clusterProtocol.channel('chat').index;
    const input = clusterProtocol.channel('input').index;
    const say = (n: number) =>
      proxy.sendFrame(
        MuxFrame.Message,
        7,
        encodeMuxMessage(chat, clusterProtocol.encodeMessage(Chat, { from: n, text: 'x' })),
      );
    const move = (n: number, tick: number) =>
      proxy.sendFrame(
        MuxFrame.Message,
        7,
        encodeMuxMessage(input, clusterProtocol.encodeMessage(Input, { seq: n, dx: 1, dy: 0 }), tick),
      );
    say(1);
    expect(await waitFor(() => applied.includes('chat:1') && count(MuxFrame.World) > 0, 5000)).toBe(true);

    proxy.sendFrame(MuxFrame.Freeze, 7, new Uint8Array(0));
    say(2);
    move(3, 0); // a tick already due: applied at once if it were not held
    expect(await waitFor(() => count(MuxFrame.Handoff) === 1, 5000)).toBe(true);
    const handoff = decodeHandoff(frames.find((f) => f.type === MuxFrame.Handoff)!.payload);
    expect(handoff.tickMessages).toEqual([]);
    const worldAtHandoff = count(MuxFrame.World);
    e.get(Position).x = 5; // the world changes while the player is frozen
    await new Promise((r) => setTimeout(r, 400)); // ~20 ticks
    expect(applied).toEqual(['chat:1']);
    expect(count(MuxFrame.World)).toBe(worldAtHandoff);

    proxy.sendFrame(MuxFrame.Thaw, 7, new Uint8Array(0));
    say(4);
    expect(await waitFor(() => applied.length === 4, 5000)).toBe(true);
    // each channel in order; tick-buffered input is applied at its step, after that receive's messages
    expect(applied.filter((a) => a.startsWith('chat'))).toEqual(['chat:1', 'chat:2', 'chat:4']);
    expect(applied).toContain('input:3');
    expect(await waitFor(() => count(MuxFrame.World) > worldAtHandoff, 5000)).toBe(true);
    const st = b.server.proxiedStats!.migration;
    expect([st.handoffs, st.thaws, st.heldWhileFrozen]).toEqual([1, 1, 2]);
  }, 30_000);
});
