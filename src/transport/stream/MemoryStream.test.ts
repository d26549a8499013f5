import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EncodeError } from '../../serde/DecodeError.js';
import { encodeFrame, FRAME_TYPE_CLOSE, FRAME_TYPE_READY, FRAME_TYPE_RESERVED_MIN } from './frame.js';
import { MemoryStreamNetwork, memoryStreamPair, peerIdentity } from './MemoryStream.js';
import { StreamRefusedError } from './StreamRefusedError.js';
import type { StreamConnection } from './types.js';

const RUNS = process.env.BATON_DEEP === '1' ? 500 : 40;

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

function pair(...args: Parameters<typeof memoryStreamPair>) {
  const [a, b] = memoryStreamPair(...args);
  opened.push(a, b);
  return [a, b] as const;
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Received {
  type: number;
  sessionId: number;
  payload: number[];
}

function record(connection: StreamConnection): { frames: Received[]; closes: string[] } {
  const log = { frames: [] as Received[], closes: [] as string[] };
  connection.onFrame = (type, sessionId, payload) =>
    log.frames.push({ type, sessionId, payload: [...payload] });
  connection.onClose = (reason) => log.closes.push(reason);
  return log;
}

describe('memoryStreamPair', () => {
  it('carries frames both ways, in order, with copied payloads and peer identities', async () => {
    const [a, b] = pair({}, { a: peerIdentity('proxy-1'), b: peerIdentity('backend-1') });
    expect(a.peer?.commonName).toBe('backend-1');
    expect(b.peer?.commonName).toBe('proxy-1');
    const atA = record(a);
    const atB = record(b);
    const payload = Uint8Array.from([1, 2, 3]);
    expect(a.sendFrame(1, 10, payload)).toBe(true);
    payload.fill(0);
    for (let i = 0; i < 100; i++) a.sendFrame(2, i, Uint8Array.of(i));
    b.sendFrame(3, 7, new Uint8Array(0));
    await settle();
    expect(atB.frames[0]).toEqual({ type: 1, sessionId: 10, payload: [1, 2, 3] });
    expect(atB.frames.slice(1).map((f) => f.sessionId)).toEqual([...Array(100).keys()]);
    expect(atA.frames).toEqual([{ type: 3, sessionId: 7, payload: [] }]);
    expect(a.stats.framesSent).toBe(101);
    expect(b.stats.framesReceived).toBe(101);
    expect(b.stats.bytesReceived).toBe(a.stats.bytesSent);
  });

  it('holds frames that arrive before onFrame is set and delivers them in order', async () => {
    const [a, b] = pair();
    for (let i = 0; i < 5; i++) a.sendFrame(1, i, new Uint8Array(0));
    await settle();
    const atB = record(b);
    await settle();
    expect(atB.frames.map((f) => f.sessionId)).toEqual([0, 1, 2, 3, 4]);
  });

  it('property: frames survive any seeded chunking of the byte stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 20 }),
        async (seed, maxChunk, payloads) => {
          const [a, b] = pair({ chunking: { seed, maxChunk } });
          const atB = record(b);
          payloads.forEach((p, i) => {
            a.sendFrame(i, i * 3, p);
          });
          await settle();
          expect(atB.frames.map((f) => f.payload)).toEqual(payloads.map((p) => [...p]));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('close(reason) reaches the peer after every queued frame; the closer is not told', async () => {
    const [a, b] = pair();
    const atA = record(a);
    const atB = record(b);
    a.sendFrame(1, 1, Uint8Array.of(1));
    const closed = a.close('draining');
    expect(a.isOpen).toBe(false);
    expect(a.sendFrame(1, 1, new Uint8Array(0))).toBe(false);
    expect(a.stats.refusedClosed).toBe(1);
    await closed;
    await settle();
    expect(atB.frames).toHaveLength(1);
    expect(atB.closes).toEqual(['peer closed: draining']);
    expect(atA.closes).toEqual([]);
    expect(b.isOpen).toBe(false);
    // idempotent
    await a.close();
    await b.close();
  });

  it('a broken connection reports the failure on both ends', async () => {
    const [a, b] = pair();
    const atA = record(a);
    const atB = record(b);
    a.breakConnection();
    await settle();
    expect(atA.closes).toEqual(['connection error: ECONNRESET (memory)']);
    expect(atB.closes).toEqual(['connection error: ECONNRESET (memory)']);
  });

  it('sendFrame throws EncodeError for reserved types, bad ids and oversize payloads', () => {
    const [a] = pair({ maxPayload: 100 });
    expect(() => a.sendFrame(FRAME_TYPE_RESERVED_MIN, 0, new Uint8Array(0))).toThrow(EncodeError);
    expect(() => a.sendFrame(FRAME_TYPE_CLOSE, 0, new Uint8Array(0))).toThrow(EncodeError);
    expect(() => a.sendFrame(1, -1, new Uint8Array(0))).toThrow(EncodeError);
    expect(() => a.sendFrame(1, 0, new Uint8Array(101))).toThrow(EncodeError);
    expect(a.sendFrame(1, 0, new Uint8Array(100))).toBe(true);
  });

  it('backpressure: refuses past maxBufferedBytes, counts it, and fires onDrain once there is room', async () => {
    const [a, b] = pair({ maxBufferedBytes: 1000 });
    // b has no onFrame yet: b holds what arrived and stops reading, so a's queue fills up
    let sent = 0;
    while (a.sendFrame(1, 0, new Uint8Array(88)) && sent < 10_000) {
      sent++;
      if (sent % 5 === 0) await settle();
    }
    expect(sent).toBeLessThan(10_000);
    expect(a.bufferedBytes).toBeLessThanOrEqual(1000);
    expect(a.stats.refusedBackpressure).toBe(1);
    let drained = 0;
    a.onDrain = () => drained++;
    const atB = record(b);
    await settle();
    await settle();
    expect(drained).toBe(1);
    expect(atB.frames).toHaveLength(sent);
    expect(a.sendFrame(1, 0, new Uint8Array(88))).toBe(true);
  });

  it('pause() holds frames (the sender backs up), resume() delivers them in order; a close waits behind them', async () => {
    const [a, b] = pair({ maxBufferedBytes: 64 });
    const log = record(b);
    b.pause();
    expect(b.paused).toBe(true);
    let sent = 0;
    for (let i = 0; i < 50 && a.sendFrame(1, i, Uint8Array.of(i)); i++) sent++;
    await settle();
    await settle();
    // nothing reaches a paused owner, and the sender is held back by its own buffer cap
    expect(log.frames).toEqual([]);
    expect(sent).toBeLessThan(50);
    void a.close('done');
    await settle();
    expect(log.closes).toEqual([]);
    b.resume();
    b.resume(); // idempotent
    for (let i = 0; i < 10 && log.closes.length === 0; i++) await settle();
    expect(log.frames.map((f) => f.sessionId)).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(log.closes).toEqual(['peer closed: done']);
  });

  it('a frame larger than the buffer cap still goes when nothing is buffered', () => {
    const [a] = pair({ maxBufferedBytes: 10 });
    expect(a.sendFrame(1, 0, new Uint8Array(500))).toBe(true);
    expect(a.sendFrame(1, 0, new Uint8Array(1))).toBe(false);
  });

  it('an oversize frame from the peer closes the connection with a reason, counted on both ends', async () => {
    const [a, b] = pair({ maxPayload: 64 });
    const atA = record(a);
    const atB = record(b);
    const header = encodeFrame(5, 1, new Uint8Array(0));
    new DataView(header.buffer).setUint32(0, 1 << 30, true);
    a.writeRaw(header);
    await settle();
    expect(b.stats.closedOversize).toBe(1);
    expect(atB.frames).toEqual([]);
    expect(atB.closes).toHaveLength(1);
    expect(atB.closes[0]).toMatch(/^protocol error: too-long: frame payload of 1073741824 bytes exceeds/);
    // b told a why before closing
    expect(atA.closes).toEqual([`peer closed: ${atB.closes[0]}`]);
  });

  it('invalid control frames close the connection (reserved type, READY where none is expected, bad reason)', async () => {
    const cases: Uint8Array[] = [
      encodeFrame(FRAME_TYPE_RESERVED_MIN, 0, new Uint8Array(0)),
      encodeFrame(FRAME_TYPE_READY, 0, new Uint8Array(0)),
      encodeFrame(FRAME_TYPE_CLOSE, 0, Uint8Array.from([0xff, 0xfe])),
      encodeFrame(FRAME_TYPE_CLOSE, 0, new Uint8Array(257), 1000),
      encodeFrame(FRAME_TYPE_CLOSE, 9, new Uint8Array(0)),
    ];
    for (const bytes of cases) {
      const [a, b] = pair();
      record(a);
      const atB = record(b);
      a.writeRaw(bytes);
      await settle();
      expect(b.stats.closedInvalid).toBe(1);
      expect(atB.closes).toHaveLength(1);
      expect(atB.closes[0]).toMatch(/^protocol error: /);
    }
  });

  it('fuzz: garbage from the peer ends in a counted close or nothing, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), async (garbage) => {
        const [a, b] = pair({ maxPayload: 128 });
        record(a);
        const atB = record(b);
        a.writeRaw(garbage);
        await settle();
        const errors = b.stats.closedInvalid + b.stats.closedOversize;
        if (atB.closes.length > 0 && atB.closes[0].startsWith('protocol error')) expect(errors).toBe(1);
        expect(b.stats.handlerErrors).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('a throwing onFrame handler is counted and does not stop later frames', async () => {
    const [a, b] = pair();
    const seen: number[] = [];
    const original = console.error;
    console.error = () => {};
    try {
      b.onFrame = (_t, sessionId) => {
        seen.push(sessionId);
        if (sessionId === 0) throw new Error('game bug');
      };
      a.sendFrame(1, 0, new Uint8Array(0));
      a.sendFrame(1, 1, new Uint8Array(0));
      await settle();
    } finally {
      console.error = original;
    }
    expect(seen).toEqual([0, 1]);
    expect(b.stats.handlerErrors).toBe(1);
    expect(b.isOpen).toBe(true);
  });
});

describe('MemoryStreamNetwork', () => {
  it('connects clients to servers by port, with identities, and closes everything on server close', async () => {
    const net = new MemoryStreamNetwork();
    const server = await net.server({ identity: peerIdentity('backend-1') }).listen();
    opened.push(server);
    expect(server.address).toEqual({ transport: 'memory', host: 'memory', port: 1 });
    const accepted: StreamConnection[] = [];
    server.onConnection = (c) => {
      accepted.push(c);
      c.onFrame = (type, sessionId, payload) => c.sendFrame(type, sessionId, payload);
    };
    const client = await net.client(server.address, { identity: peerIdentity('proxy-1') }).connect();
    opened.push(client);
    expect(client.peer?.commonName).toBe('backend-1');
    expect(accepted[0].peer?.commonName).toBe('proxy-1');
    const log = record(client);
    client.sendFrame(4, 2, Uint8Array.of(9));
    await settle();
    expect(log.frames).toEqual([{ type: 4, sessionId: 2, payload: [9] }]);
    expect(server.connections.size).toBe(1);
    await server.close();
    await settle();
    expect(log.closes).toEqual(['peer closed: server closing']);
    expect(server.connections.size).toBe(0);
    await expect(net.client(server.address).connect()).rejects.toThrow(/connection refused/);
  });

  it("the owner's authorize hook refuses with a StreamRefusedError carrying its reason", async () => {
    const net = new MemoryStreamNetwork();
    const server = await net.server().listen();
    opened.push(server);
    server.authorize = (peer) =>
      peer?.commonName === 'proxy-1' ? true : `proxy '${peer?.commonName}' not allowed`;
    const refusal = await net
      .client(server.address, { identity: peerIdentity('mallory') })
      .connect()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refusal).toBeInstanceOf(StreamRefusedError);
    expect((refusal as StreamRefusedError).reason).toBe("proxy 'mallory' not allowed");
    expect(server.stats.connectionsRefused).toBe(1);
  });

  it('refuses by authorize verdict and counts it', async () => {
    const net = new MemoryStreamNetwork();
    const server = await net
      .server({ authorize: (peer) => (peer?.commonName === 'proxy-1' ? true : 'unknown proxy') })
      .listen();
    opened.push(server);
    await expect(net.client(server.address, { identity: peerIdentity('mallory') }).connect()).rejects.toThrow(
      /unknown proxy/,
    );
    expect(server.stats.connectionsRefused).toBe(1);
    const ok = await net.client(server.address, { identity: peerIdentity('proxy-1') }).connect();
    opened.push(ok);
    expect(server.stats.connectionsAccepted).toBe(1);
  });
});
