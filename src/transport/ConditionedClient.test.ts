import { describe, expect, it } from 'vitest';
import { conditionedClient } from './ConditionedClient.js';
import { waitFor } from './testing/waitFor.js';
import type { DatagramClientSocket, DatagramClientTransport } from './types.js';

/** A client transport that records what it is asked to send and lets the test deliver to it. */
function fakeTransport(): { transport: DatagramClientTransport; sent: number[]; deliver(b: number): void } {
  const sent: number[] = [];
  let socket: DatagramClientSocket | undefined;
  return {
    sent,
    deliver: (b) => socket?.onDatagram(new Uint8Array([b])),
    transport: {
      kind: 'memory',
      async connect() {
        socket = {
          maxDatagramSize: 1200,
          onDatagram: () => {},
          onClosed: () => {},
          send: (d) => sent.push(d[0]),
          close: async () => {},
        };
        return socket;
      },
    },
  };
}

describe('conditionedClient', () => {
  it('drops datagrams both ways as seeded, the same on every run', async () => {
    const runs: number[][] = [];
    for (let r = 0; r < 2; r++) {
      const fake = fakeTransport();
      const socket = await conditionedClient(fake.transport, { loss: 0.3 }, 5).connect();
      const got: number[] = [];
      socket.onDatagram = (d) => got.push(d[0]);
      for (let i = 0; i < 200; i++) socket.send(new Uint8Array([i & 0xff]));
      for (let i = 0; i < 200; i++) fake.deliver(i & 0xff);
      expect(fake.sent.length).toBeGreaterThan(100);
      expect(fake.sent.length).toBeLessThan(180);
      expect(got.length).toBeGreaterThan(100);
      expect(got.length).toBeLessThan(180);
      runs.push([...fake.sent, -1, ...got]);
      await socket.close();
    }
    expect(runs[0]).toEqual(runs[1]);
  });

  it('as a stream, loses nothing and keeps the order: a loss arrives late and holds back the rest', async () => {
    const fake = fakeTransport();
    const socket = await conditionedClient(fake.transport, { loss: 0.3 }, 5, { resendMs: 20 }).connect();
    for (let i = 0; i < 50; i++) socket.send(new Uint8Array([i]));
    expect(fake.sent.length).toBeLessThan(50); // the first loss held the rest back
    // a busy event loop makes the held datagrams' timers late: later sends must still queue behind
    const until = Date.now() + 40;
    while (Date.now() < until) {
      // busy: no timer can fire
    }
    for (let i = 50; i < 100; i++) socket.send(new Uint8Array([i]));
    await waitFor(() => fake.sent.length === 100, 5000);
    expect(fake.sent).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await socket.close();
  });
});
