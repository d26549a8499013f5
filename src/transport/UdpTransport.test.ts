import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './testing/waitFor.js';
import type { DatagramClientSocket, DatagramServerSocket } from './types.js';
import { formatUdpPeer, parseUdpPeer, UDP_MAX_DATAGRAM, udpClient, udpServer } from './UdpTransport.js';

const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function listen(): Promise<DatagramServerSocket> {
  const server = await udpServer({ port: 0 }).listen();
  opened.push(server);
  return server;
}

async function connect(server: DatagramServerSocket): Promise<DatagramClientSocket> {
  const client = await udpClient(server.address).connect();
  opened.push(client);
  return client;
}

function echo(server: DatagramServerSocket): void {
  server.onDatagram = (peer, data) => server.send(peer, data);
}

describe('UdpTransport', () => {
  it('binds 127.0.0.1 on a free port and echoes a round trip', async () => {
    const server = await listen();
    expect(server.address.transport).toBe('udp');
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
    expect(server.maxDatagramSize).toBe(UDP_MAX_DATAGRAM);
    const peers: string[] = [];
    server.onDatagram = (peer, data) => {
      peers.push(peer);
      server.send(peer, data);
    };
    const client = await connect(server);
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    const buf = Uint8Array.from([1, 2, 3, 4]);
    client.send(buf);
    buf.fill(0); // the transport copied it
    const got = await reply;
    expect(got).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(got)).toBe(false);
    expect([...got]).toEqual([1, 2, 3, 4]);
    expect(peers[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.stats?.datagramsReceived).toBe(1);
    expect(client.stats?.bytesReceived).toBe(4);
  });

  it('carries many datagrams and a large one', async () => {
    const server = await listen();
    echo(server);
    const client = await connect(server);
    const received = new Set<number>();
    let big = 0;
    client.onDatagram = (data) => {
      if (data.byteLength === 4) received.add(new DataView(data.buffer, data.byteOffset).getUint32(0));
      else big = data.byteLength;
    };
    // Bursts keep us under the socket buffers, so loopback loses nothing.
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 50; i++) {
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, burst * 50 + i);
        client.send(out);
      }
      await waitFor(() => received.size === (burst + 1) * 50);
    }
    expect(received.size).toBe(1000);
    client.send(new Uint8Array(60_000));
    await waitFor(() => big === 60_000);
  });

  it('datagrams sent right before close() still leave (a server says Disconnect, then closes)', async () => {
    const server = await listen();
    const client = await connect(server);
    const got: number[] = [];
    client.onDatagram = (data) => got.push(data[0]);
    let peer = '';
    server.onDatagram = (p) => {
      peer = p;
    };
    client.send(new Uint8Array([0]));
    await waitFor(() => peer !== '', 5000);
    for (let i = 1; i <= 3; i++) server.send(peer, new Uint8Array([i]));
    await server.close();
    await waitFor(() => got.length === 3, 5000);
    expect(got).toEqual([1, 2, 3]);
  });

  it('close() releases the port and is idempotent', async () => {
    const server = await udpServer({ port: 0 }).listen();
    const port = server.address.port;
    await Promise.all([server.close(), server.close()]);
    const again = await udpServer({ port }).listen();
    opened.push(again);
    expect(again.address.port).toBe(port);
    await expect(udpServer({ port }).listen()).rejects.toThrow(/EADDRINUSE/);
  });

  it('is harmless: unknown or garbage peers, oversize, sends after close, nobody listening', async () => {
    const server = await listen();
    server.send('127.0.0.1:9', new Uint8Array(3)); // nobody there: fire and forget
    server.send('not a peer', new Uint8Array(3));
    server.send('host:99999', new Uint8Array(3));
    server.send('127.0.0.1:9', new Uint8Array(UDP_MAX_DATAGRAM + 1));
    server.disconnectPeer('127.0.0.1:9');
    expect(server.stats?.droppedUnroutable).toBe(2);
    expect(server.stats?.droppedOversize).toBe(1);

    // A client whose server is gone: ICMP errors are absorbed, not thrown, and not a close.
    const gone = await udpServer({ port: 0 }).listen();
    const client = await udpClient(`127.0.0.1:${gone.address.port}`).connect();
    opened.push(client);
    await gone.close();
    let closed = '';
    client.onClosed = (reason) => {
      closed = reason;
    };
    for (let i = 0; i < 3; i++) {
      client.send(new Uint8Array(2));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(closed).toBe('');
    await client.close();
    client.send(new Uint8Array(1));
    expect(client.stats?.droppedUnroutable).toBe(1);
    await server.close();
    server.send('127.0.0.1:9', new Uint8Array(1));
  });

  it('formats and parses peer ids', async () => {
    expect(formatUdpPeer('127.0.0.1', 5000)).toBe('127.0.0.1:5000');
    expect(formatUdpPeer('::1', 5000)).toBe('[::1]:5000');
    expect(parseUdpPeer('[::1]:5000')).toEqual({ host: '::1', port: 5000 });
    expect(parseUdpPeer('10.0.0.1:1')).toEqual({ host: '10.0.0.1', port: 1 });
    expect(parseUdpPeer(':5000')).toBeUndefined();
    expect(parseUdpPeer('a:0')).toBeUndefined();
    expect(parseUdpPeer('a:b')).toBeUndefined();
    await expect(udpClient('nonsense').connect()).rejects.toThrow(TypeError);
  });
});
