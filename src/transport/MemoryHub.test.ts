import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/Clock.js';
import type { LinkConditionerConfig } from './LinkConditioner.js';
import {
  type MemoryClientSocket,
  MemoryHub,
  type MemoryHubOptions,
  type MemoryServerSocket,
} from './MemoryHub.js';

const deep = process.env.BATON_DEEP === '1';

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** Encodes an index as 4 bytes so delivered datagrams can be identified. */
function tag(i: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, i);
  return out;
}

function untag(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

async function setup(options: MemoryHubOptions = {}, clientConditioner?: LinkConditionerConfig) {
  const clock = options.clock instanceof ManualClock ? options.clock : new ManualClock();
  const hub = new MemoryHub({ clock, ...options });
  const server = await hub.server().listen();
  const client = await hub.client(server.address, { conditioner: clientConditioner }).connect();
  return { clock, hub, server, client };
}

/** Records every delivery as "time who payload" lines. */
function record(clock: ManualClock, server: MemoryServerSocket, clients: MemoryClientSocket[]): string[] {
  const log: string[] = [];
  server.onDatagram = (peer, data) => {
    log.push(`${clock.now().toFixed(6)} server<-${peer} ${untag(data)}`);
    server.send(peer, data); // echo
  };
  clients.forEach((c, i) => {
    c.onDatagram = (data) => log.push(`${clock.now().toFixed(6)} client${i} ${untag(data)}`);
  });
  return log;
}

describe('MemoryHub: addresses and sockets', () => {
  it('assigns ports, refuses a port in use and unknown ports', async () => {
    const hub = new MemoryHub({ clock: new ManualClock() });
    const a = await hub.server().listen();
    const b = await hub.server({ port: 0 }).listen();
    expect(a.address).toEqual({ transport: 'memory', host: 'memory', port: a.address.port });
    expect(b.address.port).not.toBe(a.address.port);
    await expect(hub.server({ port: a.address.port }).listen()).rejects.toThrow(/in use/);
    const fixed = await hub.server({ port: 7777 }).listen();
    expect(fixed.address.port).toBe(7777);
    await expect(hub.client(1234).connect()).rejects.toThrow(/refused/);
    await fixed.close();
    const again = await hub.server({ port: 7777 }).listen(); // port released by close()
    expect(again.address.port).toBe(7777);
    expect(hub.server().listen).toBeTypeOf('function');
    expect(hub.server().kind).toBe('memory');
    expect(hub.client(7777).kind).toBe('memory');
    expect(() => hub.client({ transport: 'udp', host: '127.0.0.1', port: 1 })).toThrow(TypeError);
    await hub.close();
  });

  it('delivers nothing until the manual clock is driven, then in both directions', async () => {
    const { hub, server, client } = await setup();
    const got: string[] = [];
    server.onDatagram = (peer, data) => {
      got.push(`s ${peer} ${data.join(',')}`);
      server.send(peer, bytes(9, ...data));
    };
    client.onDatagram = (data) => got.push(`c ${data.join(',')}`);
    client.send(bytes(1, 2));
    expect(got).toEqual([]);
    expect(hub.inFlight).toBe(1);
    expect(hub.deliverDue()).toBe(2); // zero latency: the echo falls due at the same instant
    expect(got).toEqual([`s ${client.peerId} 1,2`, 'c 9,1,2']);
    expect(hub.counters).toEqual({ sent: 2, delivered: 2, dropped: 0, duplicated: 0 });
    expect(server.stats.datagramsReceived).toBe(1);
    expect(client.stats.bytesReceived).toBe(3);
  });

  it('copies payloads on send: the sender may reuse its buffer', async () => {
    const { hub, server, client } = await setup();
    const got: number[][] = [];
    server.onDatagram = (_p, data) => got.push([...data]);
    const buf = bytes(1, 2, 3);
    client.send(buf);
    buf.fill(0);
    hub.deliverDue();
    expect(got).toEqual([[1, 2, 3]]);
  });

  it('drops oversize datagrams and sends on closed sockets, counted, without throwing', async () => {
    const { hub, server, client } = await setup({ maxDatagramSize: 8 });
    let received = 0;
    server.onDatagram = () => received++;
    client.send(new Uint8Array(9));
    server.send('mem#999', bytes(1));
    expect(client.stats.droppedOversize).toBe(1);
    expect(server.stats.droppedUnroutable).toBe(1);
    await client.close();
    client.send(bytes(1));
    expect(client.stats.droppedUnroutable).toBe(1);
    hub.advance(10);
    expect(received).toBe(0);
  });

  it('rethrows a handler error from advance() after finishing the batch', async () => {
    const { hub, server, client } = await setup();
    let calls = 0;
    server.onDatagram = () => {
      calls++;
      throw new Error('boom');
    };
    client.send(bytes(1));
    client.send(bytes(2));
    expect(() => hub.advance(1)).toThrow('boom');
    expect(calls).toBe(2);
  });

  it('validates conditioner values', () => {
    expect(() => new MemoryHub({ conditioner: { loss: 2 } })).toThrow(RangeError);
    expect(() => new MemoryHub({ conditioner: { toClient: { latencyMs: -1 } } })).toThrow(RangeError);
  });
});

describe('MemoryHub: link conditioner', () => {
  const messy: LinkConditionerConfig = {
    latencyMs: 20,
    jitterMs: 30,
    loss: 0.2,
    duplicate: 0.1,
    reorder: 0.2,
  };

  async function scenario(seed: number): Promise<string[]> {
    const clock = new ManualClock();
    const hub = new MemoryHub({ clock, seed, conditioner: messy });
    const server = await hub.server().listen();
    const c0 = await hub.client(server.address).connect();
    const c1 = await hub.client(server.address, { conditioner: { toServer: { loss: 0.5 } } }).connect();
    const log = record(clock, server, [c0, c1]);
    for (let i = 0; i < 300; i++) {
      c0.send(tag(i));
      if (i % 3 === 0) c1.send(tag(10_000 + i));
      hub.advance(i % 7);
    }
    hub.advance(1000);
    await hub.close();
    return log;
  }

  it('is deterministic for a seed: identical runs give identical delivery logs', async () => {
    const a = await scenario(42);
    const b = await scenario(42);
    expect(a.length).toBeGreaterThan(300);
    expect(b).toEqual(a);
    expect(await scenario(43)).not.toEqual(a);
  });

  it('loses about the configured fraction', async () => {
    const { hub, server, client } = await setup({ seed: 5, conditioner: { loss: 0.3 } });
    let received = 0;
    server.onDatagram = () => received++;
    const n = 20_000;
    for (let i = 0; i < n; i++) client.send(tag(i));
    hub.deliverDue();
    expect(received / n).toBeGreaterThan(0.68);
    expect(received / n).toBeLessThan(0.72);
    expect(hub.counters.dropped).toBe(n - received);
    expect(client.link.counters.toServer).toEqual({
      sent: n,
      delivered: received,
      dropped: n - received,
      duplicated: 0,
    });
  });

  it('duplicates about the configured fraction, each copy a separate buffer', async () => {
    const { hub, server, client } = await setup({ seed: 9, conditioner: { duplicate: 0.25, jitterMs: 5 } });
    const seen = new Map<number, Uint8Array[]>();
    server.onDatagram = (_p, data) => {
      const id = untag(data);
      seen.set(id, [...(seen.get(id) ?? []), data]);
    };
    const n = 10_000;
    for (let i = 0; i < n; i++) client.send(tag(i));
    hub.advance(10);
    expect(seen.size).toBe(n); // nothing lost
    const dups = [...seen.values()].filter((copies) => copies.length === 2);
    expect(dups.length / n).toBeGreaterThan(0.23);
    expect(dups.length / n).toBeLessThan(0.27);
    expect(hub.counters.duplicated).toBe(dups.length);
    expect(hub.counters.delivered).toBe(n + dups.length);
    expect(dups[0][0]).not.toBe(dups[0][1]);
  });

  it('reordering actually reorders, and without it order is kept', async () => {
    for (const reorder of [0, 0.2]) {
      const { hub, clock, server, client } = await setup({
        seed: 3,
        conditioner: { latencyMs: 10, reorder },
      });
      const order: number[] = [];
      server.onDatagram = (_p, data) => order.push(untag(data));
      for (let i = 0; i < 500; i++) {
        client.send(tag(i));
        hub.advance(1);
      }
      hub.advance(100);
      expect(clock.now()).toBe(600);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
      const inversions = order.filter((v, i) => i > 0 && v < order[i - 1]).length;
      if (reorder === 0) expect(inversions).toBe(0);
      else expect(inversions).toBeGreaterThan(20);
    }
  });

  it('respects latency and jitter bounds with a ManualClock', async () => {
    const { hub, clock, server, client } = await setup({
      conditioner: { latencyMs: 50, toClient: { latencyMs: 30, jitterMs: 10 } },
    });
    const arrivals: number[] = [];
    server.onDatagram = (peer, data) => {
      arrivals.push(clock.now());
      server.send(peer, data);
    };
    const back: number[] = [];
    client.onDatagram = () => back.push(clock.now());
    client.send(bytes(1));
    hub.advance(49);
    expect(arrivals).toEqual([]);
    hub.advance(1);
    expect(arrivals).toEqual([50]);
    expect(hub.nextDueAt()).toBeGreaterThanOrEqual(80);
    hub.advance(29);
    expect(back).toEqual([]);
    hub.advance(11);
    expect(back).toHaveLength(1);
    expect(back[0]).toBeGreaterThanOrEqual(80);
    expect(back[0]).toBeLessThanOrEqual(90);
    expect(clock.now()).toBe(90);
  });

  it('per-link conditions can be changed live and the hub default follows', async () => {
    const { hub, server, client } = await setup({ conditioner: { latencyMs: 10 } });
    let received = 0;
    server.onDatagram = () => received++;
    expect(client.link.conditionsOf('toServer').latencyMs).toBe(10);
    client.link.setConditioner({ loss: 1 });
    expect(client.link.conditionsOf('toServer')).toMatchObject({ latencyMs: 10, loss: 1 });
    client.send(bytes(1));
    client.link.setConditioner(undefined);
    hub.setConditioner({ latencyMs: 5 });
    client.send(bytes(2));
    hub.advance(5);
    expect(received).toBe(1);
    expect(hub.counters.dropped).toBe(1);
  });

  it('property: with no loss every datagram arrives once or twice, never before the latency', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.record({
          latencyMs: fc.integer({ min: 0, max: 100 }),
          jitterMs: fc.integer({ min: 0, max: 50 }),
          duplicate: fc.double({ min: 0, max: 1, noNaN: true }),
          reorder: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        fc.integer({ min: 1, max: 60 }),
        async (seed, conditions, count) => {
          const { hub, clock, server, client } = await setup({ seed, conditioner: conditions });
          const sentAt: number[] = [];
          const copies = new Map<number, number>();
          server.onDatagram = (_p, data) => {
            const id = untag(data);
            expect(clock.now() - sentAt[id]).toBeGreaterThanOrEqual(conditions.latencyMs);
            copies.set(id, (copies.get(id) ?? 0) + 1);
          };
          for (let i = 0; i < count; i++) {
            sentAt.push(clock.now());
            client.send(tag(i));
            hub.advance(i % 3);
          }
          hub.advance(1000);
          expect(copies.size).toBe(count);
          for (const n of copies.values()) expect(n === 1 || n === 2).toBe(true);
          expect(hub.inFlight).toBe(0);
        },
      ),
      { numRuns: deep ? 1000 : 50 },
    );
  });
});

describe('MemoryHub: partitions and closing', () => {
  it('a partition blackholes sends and in-flight datagrams until healed', async () => {
    const { hub, server, client } = await setup({ conditioner: { latencyMs: 10 } });
    const got: string[] = [];
    server.onDatagram = (peer, data) => {
      got.push(`s${data[0]}`);
      server.send(peer, data);
    };
    client.onDatagram = (data) => got.push(`c${data[0]}`);
    client.send(bytes(1)); // in flight when the cut happens
    hub.advance(5);
    hub.partition(client.peerId);
    client.send(bytes(2));
    hub.advance(20);
    expect(got).toEqual([]);
    expect(hub.counters.dropped).toBe(2);
    hub.heal(client.peerId);
    client.link.partition('toClient');
    client.send(bytes(3));
    hub.advance(30);
    expect(got).toEqual(['s3']); // the echo was cut
    client.link.heal();
    client.send(bytes(4));
    hub.advance(30);
    expect(got).toEqual(['s3', 's4', 'c4']);
    expect(hub.link(client.peerId)).toBe(client.link);
    expect(hub.links(server.address.port)).toEqual([client.link]);
  });

  it('client close reaches the server after the data in flight', async () => {
    const { hub, server, client } = await setup({ conditioner: { latencyMs: 10, jitterMs: 20 } });
    const events: string[] = [];
    server.onDatagram = (peer, data) => events.push(`${peer}:${data[0]}`);
    server.onPeerClosed = (peer) => events.push(`closed ${peer}`);
    for (let i = 0; i < 5; i++) client.send(bytes(i));
    await client.close();
    hub.advance(100);
    expect(events).toHaveLength(6);
    expect(events[5]).toBe(`closed ${client.peerId}`);
    expect(hub.links()).toEqual([]);
    server.send(client.peerId, bytes(1));
    expect(server.stats.droppedUnroutable).toBe(1);
  });

  it('disconnectPeer and server close tell the client, not the server', async () => {
    const { hub, server, client } = await setup({ conditioner: { latencyMs: 5 } });
    const other = await hub.client(server.address).connect();
    const events: string[] = [];
    server.onPeerClosed = (peer) => events.push(`peerClosed ${peer}`);
    client.onClosed = (reason) => events.push(`client ${reason}`);
    other.onClosed = (reason) => events.push(`other ${reason}`);
    server.disconnectPeer(client.peerId);
    server.disconnectPeer('mem#404'); // unknown: harmless
    hub.advance(5);
    expect(events).toEqual(['client disconnected by server']);
    client.send(bytes(1));
    expect(client.stats.droppedUnroutable).toBe(1);
    await server.close();
    hub.advance(5);
    expect(events).toEqual(['client disconnected by server', 'other server closed']);
    expect(hub.counters.delivered).toBe(0);
  });

  it('reportClose: false behaves like UDP: no notices, a forgotten peer comes back by speaking', async () => {
    const { hub, server, client } = await setup({ reportClose: false });
    const events: string[] = [];
    server.onDatagram = (peer, data) => events.push(`${peer}:${data[0]}`);
    server.onPeerClosed = (peer) => events.push(`closed ${peer}`);
    client.onClosed = (reason) => events.push(`client ${reason}`);
    server.disconnectPeer(client.peerId);
    hub.deliverDue();
    client.send(bytes(7));
    hub.deliverDue();
    await client.close();
    hub.advance(10);
    expect(events).toEqual([`${client.peerId}:7`]);
  });
});

describe('MemoryHub: real timers', () => {
  it('delivers zero-latency datagrams asynchronously and delayed ones on time', async () => {
    const hub = new MemoryHub({ seed: 1 });
    expect(hub.manual).toBe(false);
    const server = await hub.server().listen();
    const client = await hub.client(server.address).connect();
    const slow = await hub.client(server.address, { conditioner: { latencyMs: 30 } }).connect();
    server.onDatagram = (peer, data) => server.send(peer, data);
    const fast = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(bytes(1, 2, 3));
    expect(hub.counters.delivered).toBe(0); // not delivered inside send()
    expect([...(await fast)]).toEqual([1, 2, 3]);

    const start = performance.now();
    const delayed = new Promise<number>((resolve) => {
      slow.onDatagram = () => resolve(performance.now() - start);
    });
    slow.send(bytes(4));
    expect(await delayed).toBeGreaterThanOrEqual(58); // 30 ms each way, timer slack aside
    expect(() => hub.advance(1)).toThrow(/ManualClock/);
    await hub.close();
    expect(hub.inFlight).toBe(0);
  });
});
