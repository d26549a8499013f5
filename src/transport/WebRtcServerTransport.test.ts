import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from './testing/waitFor.js';
import { webrtcServer } from './WebRtcServerTransport.js';
import { parseSignal } from './WebRtcSignal.js';

describe('WebRTC signalling input', () => {
  it('parses only well-formed signals', () => {
    expect(parseSignal('{"t":"offer","sdp":"v=0"}')).toEqual({ t: 'offer', sdp: 'v=0' });
    expect(parseSignal('{"t":"candidate","candidate":"c","mid":"0"}')).toEqual({
      t: 'candidate',
      candidate: 'c',
      mid: '0',
    });
    for (const bad of [
      '',
      'nope',
      '[]',
      'null',
      '{"t":"offer"}',
      '{"t":"candidate","candidate":1,"mid":"0"}',
      'x'.repeat(20000),
    ]) {
      expect(parseSignal(bad)).toBeUndefined();
    }
    expect(parseSignal(42)).toBeUndefined();
  });

  it('counts malformed signals, cuts a peer with an unusable offer or no data channel in time', async () => {
    const socket = await webrtcServer({ handshakeTimeoutMs: 500 }).listen();
    try {
      const closed: string[] = [];
      socket.onPeerClosed = (p) => closed.push(p);
      const ws = new WebSocket(socket.address.url!);
      await new Promise((ok) => ws.once('open', ok));
      const wsClosed = new Promise((ok) => ws.once('close', ok));
      ws.send('nonsense');
      ws.send(new Uint8Array([1, 2, 3]));
      ws.send('{"t":"answer","sdp":"v=0"}');
      await waitFor(() => socket.stats!.droppedInvalid === 3, 5000);
      // no offer: the handshake timeout cuts it (it never had a data channel: no peer close)
      await wsClosed;
      expect(closed).toEqual([]);

      const bad = new WebSocket(socket.address.url!);
      await new Promise((ok) => bad.once('open', ok));
      const badClosed = new Promise((ok) => bad.once('close', ok));
      bad.send('{"t":"offer","sdp":"not an sdp"}');
      await badClosed;
      expect(socket.stats!.errors).toBeGreaterThanOrEqual(1);
    } finally {
      await socket.close();
    }
  });
});
