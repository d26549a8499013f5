import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createTestCertificates, type TestCertificates } from '../../test/helpers/testCertificates.js';
import { browserWebSocketClient, type WebSocketConstructor } from './BrowserWebSocketTransport.js';
import { waitFor } from './testing/waitFor.js';
import type { DatagramClientSocket, DatagramServerSocket } from './types.js';
import {
  type WebSocketServerLimitStats,
  type WebSocketServerOptions,
  websocketClient,
  websocketServer,
} from './WebSocketTransport.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});

async function listen(options: WebSocketServerOptions = {}): Promise<DatagramServerSocket> {
  const server = await websocketServer({ port: 0, ...options }).listen();
  cleanups.push(() => server.close());
  return server;
}

async function connect(server: DatagramServerSocket): Promise<DatagramClientSocket> {
  const client = await websocketClient(server.address).connect();
  cleanups.push(() => client.close());
  return client;
}

/** A raw `ws` client, for sending what our transport never would. */
async function rawClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', reject);
  });
  return ws;
}

function echo(server: DatagramServerSocket): void {
  server.onDatagram = (peer, data) => server.send(peer, data);
}

describe('WebSocketTransport (Node)', () => {
  it('listens on 127.0.0.1 with a URL and echoes a round trip', async () => {
    const server = await listen({ path: '/baton' });
    expect(server.address.transport).toBe('websocket');
    expect(server.address.url).toBe(`ws://127.0.0.1:${server.address.port}/baton`);
    expect(server.maxDatagramSize).toBe(65536);
    const peers: string[] = [];
    server.onDatagram = (peer, data) => {
      peers.push(peer);
      server.send(peer, data);
    };
    const client = await connect(server);
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    const buf = Uint8Array.from([5, 6, 7]);
    client.send(buf);
    buf.fill(0);
    const got = await reply;
    expect(Buffer.isBuffer(got)).toBe(false);
    expect([...got]).toEqual([5, 6, 7]);
    expect(peers).toEqual(['ws#1']);
    // The path is enforced.
    await expect(websocketClient(`ws://127.0.0.1:${server.address.port}/other`).connect()).rejects.toThrow();
  });

  it('carries many datagrams in order', async () => {
    const server = await listen();
    echo(server);
    const client = await connect(server);
    const got: number[] = [];
    client.onDatagram = (data) => got.push(new DataView(data.buffer, data.byteOffset).getUint32(0));
    const out = new Uint8Array(4);
    for (let i = 0; i < 2000; i++) {
      new DataView(out.buffer).setUint32(0, i); // reused buffer: send must have copied
      client.send(out);
    }
    await waitFor(() => got.length === 2000);
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it('reports a peer that closes, but not one the server disconnects', async () => {
    const server = await listen();
    const closedPeers: string[] = [];
    server.onPeerClosed = (peer) => closedPeers.push(peer);
    const seen: string[] = [];
    server.onDatagram = (peer) => seen.push(peer);
    const a = await connect(server);
    const b = await connect(server);
    a.send(new Uint8Array(1));
    b.send(new Uint8Array(1));
    await waitFor(() => seen.length === 2);
    const peerA = seen[0];
    const peerB = seen[1];
    await a.close();
    await waitFor(() => closedPeers.length === 1);
    expect(closedPeers).toEqual([peerA]);

    let reason = '';
    b.onClosed = (r) => {
      reason = r;
    };
    server.disconnectPeer(peerB);
    await waitFor(() => reason !== '');
    expect(reason).toContain('1000');
    await new Promise((r) => setTimeout(r, 10));
    expect(closedPeers).toEqual([peerA]);
    server.send(peerB, new Uint8Array(1));
    expect(server.stats?.droppedUnroutable).toBe(1);
  });

  it('close() tells clients, releases the port and is idempotent', async () => {
    const server = await websocketServer({ port: 0 }).listen();
    const port = server.address.port;
    const client = await websocketClient(server.address.url!).connect();
    let reason = '';
    client.onClosed = (r) => {
      reason = r;
    };
    await Promise.all([server.close(), server.close()]);
    await waitFor(() => reason !== '');
    expect(reason).toContain('1001');
    const again = await listen({ port });
    expect(again.address.port).toBe(port);
    await expect(websocketServer({ port }).listen()).rejects.toThrow(/EADDRINUSE/);
    await client.close(); // already closed: resolves
    client.send(new Uint8Array(1));
    expect(client.stats?.droppedUnroutable).toBe(1);
  });

  it('is harmless: unknown peers, text frames, oversize messages, refused connects', async () => {
    const server = await listen({ maxPayload: 1024 });
    const peers: string[] = [];
    server.onDatagram = (peer, data) => {
      peers.push(peer);
      server.send(peer, data);
    };
    const closedPeers: string[] = [];
    server.onPeerClosed = (peer) => closedPeers.push(peer);
    server.send('ws#999', new Uint8Array(1));
    server.send('garbage', new Uint8Array(1));
    server.disconnectPeer('ws#999');
    expect(server.stats?.droppedUnroutable).toBe(2);

    const raw = await rawClient(server.address.url!);
    const replies: Buffer[] = [];
    raw.on('message', (data) => replies.push(data as Buffer));
    raw.send('hello, I am text');
    raw.send(Buffer.from([1, 2]));
    await waitFor(() => replies.length === 1);
    expect([...replies[0]]).toEqual([1, 2]);
    expect(server.stats?.droppedInvalid).toBe(1);

    // Over maxPayload: `ws` closes that socket (1009); the server keeps serving others.
    const rawClosed = new Promise<number>((resolve) => raw.once('close', resolve));
    raw.send(Buffer.alloc(2000));
    expect(await rawClosed).toBe(1009);
    await waitFor(() => closedPeers.length === 1);

    const client = await connect(server);
    expect(client.maxDatagramSize).toBe(65536);
    client.send(new Uint8Array(70_000)); // over the client's own limit: dropped locally
    expect(client.stats?.droppedOversize).toBe(1);
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([3]));
    expect([...(await reply)]).toEqual([3]);
    expect(peers).toEqual(['ws#1', 'ws#2']);
    server.send('ws#2', new Uint8Array(2000)); // oversize for the server: dropped, counted
    expect(server.stats?.droppedOversize).toBe(1);

    const gone = await websocketServer({ port: 0 }).listen();
    const goneUrl = gone.address.url!;
    await gone.close();
    await expect(websocketClient(goneUrl).connect()).rejects.toThrow();
    await expect(websocketClient('not a url').connect()).rejects.toThrow();
  });

  it('hands over datagrams and a close that arrive before the handlers are set', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise((r) => wss.close(r)));
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      for (let i = 0; i < 3; i++) ws.send(Buffer.from([i]));
      ws.close(4000, 'bye');
    });
    const client = await websocketClient(
      `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`,
    ).connect();
    cleanups.push(() => client.close());
    await new Promise((r) => setTimeout(r, 30)); // everything has arrived by now
    const events: string[] = [];
    client.onClosed = (reason) => events.push(reason);
    client.onDatagram = (data) => events.push(`d${data[0]}`);
    await waitFor(() => events.length === 4);
    expect(events).toEqual(['d0', 'd1', 'd2', 'websocket closed (4000: bye)']);
  });

  it('limits peers when asked', async () => {
    const server = await listen({ maxPeers: 1 });
    await connect(server);
    const second = await connect(server);
    const reason = await new Promise<string>((resolve) => {
      second.onClosed = resolve;
    });
    expect(reason).toContain('1013');
  });
});

/** The limit counters of a `websocketServer` socket. */
function limits(server: DatagramServerSocket): WebSocketServerLimitStats {
  return (server as unknown as { limits: WebSocketServerLimitStats }).limits;
}

/** A raw TCP connection to the server's port, resolving once connected; `closed` once the server cut it. */
async function rawTcp(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', reject);
  });
  return { socket, closed };
}

describe('WebSocketTransport (Node): peers that never speak, and the peer cap (issue 12.4)', () => {
  it('cuts a connection that never sends its handshake, and one that dribbles it (slowloris)', async () => {
    const server = await listen({ handshakeTimeoutMs: 300 });
    const silent = await rawTcp(server.address.port);
    const slow = await rawTcp(server.address.port);
    slow.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // one header line at a time, never the blank line that ends the request (bounded: 100 lines)
    let lines = 0;
    const drip = setInterval(() => {
      if (++lines > 100 || slow.socket.destroyed) clearInterval(drip);
      else slow.socket.write(`X-Drip-${lines}: ${'a'.repeat(10)}\r\n`);
    }, 50);
    cleanups.push(() => clearInterval(drip));
    await Promise.all([silent.closed, slow.closed]);
    expect(limits(server).handshakeTimeouts).toBe(2);
    expect((server as unknown as { pendingCount: number }).pendingCount).toBe(0);
    // a real client that upgrades in time is unaffected
    const client = await connect(server);
    echo(server);
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([1]));
    expect([...(await reply)]).toEqual([1]);
  });

  it('bounds connections in their handshake; the extra ones are cut at once', async () => {
    const server = await listen({ maxPendingHandshakes: 3, handshakeTimeoutMs: 30_000 });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await rawTcp(server.address.port));
    await waitFor(() => (server as unknown as { pendingCount: number }).pendingCount === 3);
    const extra = await rawTcp(server.address.port).catch(() => undefined);
    if (extra) await extra.closed;
    expect(limits(server).refusedPending).toBe(1);
    // once one of them goes, there is room again
    held[0].socket.destroy();
    await waitFor(() => (server as unknown as { pendingCount: number }).pendingCount === 2);
    const client = await connect(server);
    expect(client.maxDatagramSize).toBe(65536);
  });

  it('closes a peer that never sends a datagram (1008) and reports it; a talking one stays', async () => {
    const server = await listen({ idleTimeoutMs: 600 });
    const closedPeers: string[] = [];
    server.onPeerClosed = (peer) => closedPeers.push(peer);
    const seen = new Set<string>();
    server.onDatagram = (peer) => seen.add(peer);
    const silent = await rawClient(server.address.url!);
    const silentClosed = new Promise<number>((resolve) => silent.once('close', resolve));
    // text frames are not datagrams: they do not keep a peer alive
    const texting = await rawClient(server.address.url!);
    const textingClosed = new Promise<number>((resolve) => texting.once('close', resolve));
    const talker = await connect(server);
    let talkerReason = '';
    talker.onClosed = (r) => {
      talkerReason = r;
    };
    let sent = 0;
    const talk = setInterval(() => {
      talker.send(Uint8Array.from([sent++]));
      texting.send('still here');
    }, 100);
    cleanups.push(() => clearInterval(talk));
    expect(await silentClosed).toBe(1008);
    expect(await textingClosed).toBe(1008);
    await waitFor(() => closedPeers.length === 2);
    expect(limits(server).idleTimeouts).toBe(2);
    // the talker outlived both (it was connected last, so its 600 ms started last) and more
    const until = sent + 10;
    await waitFor(() => sent >= until, 10_000);
    clearInterval(talk);
    expect(talkerReason).toBe('');
    expect(seen.size).toBe(1);
    expect(closedPeers).not.toContain([...seen][0]);
  });

  it('caps peers by default, and a freed place is taken again', async () => {
    const server = await listen({ maxPeers: 2 });
    await connect(server);
    const second = await connect(server);
    const third = await connect(server);
    const reason = await new Promise<string>((resolve) => {
      third.onClosed = resolve;
    });
    expect(reason).toContain('1013');
    expect(limits(server).refusedFull).toBe(1);
    await second.close();
    await waitFor(() => (server as unknown as { peerCount: number }).peerCount === 1);
    const fourth = await connect(server);
    let fourthReason = '';
    fourth.onClosed = (r) => {
      fourthReason = r;
    };
    echo(server);
    const reply = new Promise<Uint8Array>((resolve) => {
      fourth.onDatagram = resolve;
    });
    fourth.send(Uint8Array.from([4]));
    expect([...(await reply)]).toEqual([4]);
    expect(fourthReason).toBe('');
    // the default is a number, not "unlimited"
    const defaults = await listen();
    expect((defaults as unknown as { options: { maxPeers: number } }).options.maxPeers).toBe(10_000);
  });

  it('answers plain HTTP with 426 on its own port', async () => {
    const server = await listen();
    const status = await new Promise<number>((resolve, reject) => {
      httpGet(`http://127.0.0.1:${server.address.port}/`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(426);
    expect(limits(server).refusedHttp).toBe(1);
  });
});

describe('WebSocketTransport (Node): an existing server, and wss://', () => {
  let certs: TestCertificates;
  beforeAll(async () => {
    certs = await createTestCertificates();
  });
  afterAll(() => certs?.dispose());

  it('attaches to an existing http server: shares its port, leaves it open on close', async () => {
    const http = createHttpServer((_req, res) => res.end('app page'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((r) => http.close(r)));
    const port = (http.address() as { port: number }).port;
    const server = await listen({ server: http, path: '/baton', idleTimeoutMs: 60_000 });
    expect(server.address.url).toBe(`ws://127.0.0.1:${port}/baton`);
    echo(server);
    const client = await connect(server);
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([7]));
    expect([...(await reply)]).toEqual([7]);
    const page = () =>
      new Promise<string>((resolve, reject) => {
        httpGet(`http://127.0.0.1:${port}/`, (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
    expect(await page()).toBe('app page');
    await expect(websocketClient(`ws://127.0.0.1:${port}/other`).connect()).rejects.toThrow();
    let reason = '';
    client.onClosed = (r) => {
      reason = r;
    };
    await server.close();
    await waitFor(() => reason !== '');
    expect(reason).toContain('1001');
    expect(http.listening).toBe(true);
    expect(await page()).toBe('app page');
    await expect(websocketClient(`ws://127.0.0.1:${port}/baton`).connect()).rejects.toThrow();
  });

  it('serves wss:// with a certificate from a test CA (own server and an attached https server)', async () => {
    const server = await listen({
      tls: { cert: certs.server.cert, key: certs.server.key },
      handshakeTimeoutMs: 2000,
    });
    expect(server.address.url).toBe(`wss://127.0.0.1:${server.address.port}/`);
    echo(server);
    const client = await websocketClient(server.address, { ca: certs.ca.cert }).connect();
    cleanups.push(() => client.close());
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([1, 2, 3]));
    expect([...(await reply)]).toEqual([1, 2, 3]);
    // the TLS connection was taken off the handshake deadline once upgraded
    await new Promise((r) => setTimeout(r, 2500));
    const again = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([4]));
    expect([...(await again)]).toEqual([4]);
    expect(limits(server).handshakeTimeouts).toBe(0);
    // a client that does not trust the CA is refused
    await expect(websocketClient(server.address).connect()).rejects.toThrow();

    const https = createHttpsServer({ cert: certs.server.cert, key: certs.server.key });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((r) => https.close(r)));
    const attached = await listen({ server: https });
    expect(attached.address.url).toBe(`wss://127.0.0.1:${attached.address.port}/`);
    echo(attached);
    const c2 = await websocketClient(attached.address, { ca: certs.ca.cert }).connect();
    cleanups.push(() => c2.close());
    const r2 = new Promise<Uint8Array>((resolve) => {
      c2.onDatagram = resolve;
    });
    c2.send(Uint8Array.from([9]));
    expect([...(await r2)]).toEqual([9]);
  });
});

describe('browserWebSocketClient (with the ws constructor standing in for the global)', () => {
  const Ctor = WebSocket as unknown as WebSocketConstructor;

  it('round trips against the Node server and reports the close', async () => {
    const server = await listen();
    echo(server);
    const client = await browserWebSocketClient(server.address, { WebSocket: Ctor }).connect();
    cleanups.push(() => client.close());
    const reply = new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    client.send(Uint8Array.from([9, 8, 7]));
    expect([...(await reply)]).toEqual([9, 8, 7]);
    const closed = new Promise<string>((resolve) => {
      client.onClosed = resolve;
    });
    await server.close();
    expect(await closed).toContain('1001');
  });

  it('ignores text frames and fails to connect cleanly', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise((r) => wss.close(r)));
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => {
      ws.send('text is not a datagram');
      ws.send(Buffer.from([42]));
      cleanups.unshift(() => ws.terminate());
    });
    const client = await browserWebSocketClient(`ws://127.0.0.1:${port}/`, { WebSocket: Ctor }).connect();
    cleanups.push(() => client.close());
    const got = await new Promise<Uint8Array>((resolve) => {
      client.onDatagram = resolve;
    });
    expect([...got]).toEqual([42]);
    expect(client.stats?.droppedInvalid).toBe(1);

    const gone = await websocketServer({ port: 0 }).listen();
    await gone.close();
    await expect(browserWebSocketClient(gone.address, { WebSocket: Ctor }).connect()).rejects.toThrow();
  });

  it('rejects without a global WebSocket on Node 20', async () => {
    if ('WebSocket' in globalThis) return; // newer Node has one
    await expect(browserWebSocketClient('ws://127.0.0.1:1/').connect()).rejects.toThrow(
      /no global WebSocket/,
    );
  });
});
