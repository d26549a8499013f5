import { X509Certificate } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAndKey,
  createTestCertificates,
  type TestCertificates,
} from '../../../test/helpers/testCertificates.js';
import { waitFor } from '../testing/waitFor.js';
import { encodeFrame, FRAME_TYPE_RESERVED_MIN } from './frame.js';
import { StreamRefusedError } from './StreamRefusedError.js';
import { type TlsStreamServerOptions, tlsStreamClient, tlsStreamServer } from './TlsStream.js';
import type { StreamConnection, StreamServer } from './types.js';

let certs: TestCertificates;

beforeAll(async () => {
  certs = await createTestCertificates();
});

afterAll(() => {
  certs?.dispose();
});

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});

async function listen(options: Partial<TlsStreamServerOptions> = {}): Promise<StreamServer> {
  const server = await tlsStreamServer({
    port: 0,
    cert: certs.server.cert,
    key: certs.server.key,
    ca: certs.ca.cert,
    ...options,
  }).listen();
  cleanups.push(() => server.close());
  return server;
}

function connect(
  server: StreamServer,
  identity: CertificateAndKey = certs.client,
  extra: { ca?: string; servername?: string; maxPayload?: number } = {},
): Promise<StreamConnection> {
  return tlsStreamClient({
    host: '127.0.0.1',
    port: server.address.port,
    cert: identity.cert,
    key: identity.key,
    ca: extra.ca ?? certs.ca.cert,
    servername: extra.servername,
    maxPayload: extra.maxPayload,
    handshakeTimeoutMs: 5000,
  })
    .connect()
    .then((c) => {
      cleanups.push(() => c.close());
      return c;
    });
}

/** Accepted server-side connections, each echoing every frame back. */
function echoServer(server: StreamServer): StreamConnection[] {
  const accepted: StreamConnection[] = [];
  server.onConnection = (connection) => {
    accepted.push(connection);
    connection.onFrame = (type, sessionId, payload) => connection.sendFrame(type, sessionId, payload);
  };
  return accepted;
}

/** Expect `attempt` to fail and the server to have accepted nobody. */
async function expectRefused(
  server: StreamServer,
  attempt: Promise<unknown>,
  message?: RegExp,
): Promise<void> {
  let accepted = 0;
  server.onConnection = () => accepted++;
  await expect(attempt).rejects.toThrow(message ?? /tls stream/);
  await waitFor(() => server.stats.handshakeFailures + server.stats.connectionsRefused > 0);
  expect(accepted).toBe(0);
  expect(server.connections.size).toBe(0);
}

describe('TLS stream, mutual authentication', () => {
  it('connects on 127.0.0.1 and exposes both peer certificates', async () => {
    const server = await listen();
    expect(server.address).toEqual({ transport: 'tls', host: '127.0.0.1', port: expect.any(Number) });
    expect(server.address.port).toBeGreaterThan(0);
    const accepted = echoServer(server);
    const client = await connect(server);
    await waitFor(() => accepted.length === 1);
    const atServer = accepted[0];
    expect(atServer.peer?.commonName).toBe('proxy-1');
    expect(atServer.peer?.subject.O).toBe('baton test');
    expect(atServer.peer?.issuerCommonName).toBe('baton-test-ca');
    expect(atServer.peer?.fingerprint256).toBe(new X509Certificate(certs.client.cert).fingerprint256);
    expect(client.peer?.commonName).toBe('backend-1');
    expect(client.peer?.fingerprint256).toBe(new X509Certificate(certs.server.cert).fingerprint256);
    expect(atServer.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.stats.connectionsAccepted).toBe(1);
  });

  it('carries frames both ways, a 1 MiB frame, and 5000 frames in order', async () => {
    const server = await listen();
    echoServer(server);
    const client = await connect(server);
    const got: { type: number; sessionId: number; payload: Uint8Array }[] = [];
    client.onFrame = (type, sessionId, payload) => got.push({ type, sessionId, payload });

    const big = new Uint8Array(client.maxPayload);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    expect(client.sendFrame(9, 0xfffffffe, big)).toBe(true);
    for (let i = 0; i < 5000; i++) {
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, i, true);
      expect(client.sendFrame(1, i, payload)).toBe(true);
    }
    await waitFor(() => got.length === 5001, 10_000);
    expect(got[0].type).toBe(9);
    expect(got[0].sessionId).toBe(0xfffffffe);
    expect(Buffer.isBuffer(got[0].payload)).toBe(false);
    expect(Buffer.compare(Buffer.from(got[0].payload), Buffer.from(big))).toBe(0);
    const order = got
      .slice(1)
      .map((f) => new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0, true));
    expect(order).toEqual(got.slice(1).map((f) => f.sessionId));
    expect(order).toEqual([...Array(5000).keys()]);
    expect(client.stats.framesSent).toBe(5001);
    expect(client.stats.framesReceived).toBe(5001);
  });

  it('backpressure: a peer that does not read makes sendFrame refuse; onDrain follows when it reads', async () => {
    const server = await listen();
    const accepted: StreamConnection[] = [];
    server.onConnection = (c) => accepted.push(c); // no onFrame yet: the server holds and stops reading
    const client = await tlsStreamClient({
      host: '127.0.0.1',
      port: server.address.port,
      ...certs.client,
      ca: certs.ca.cert,
      maxBufferedBytes: 256 * 1024,
    }).connect();
    cleanups.push(() => client.close());
    await waitFor(() => accepted.length === 1);
    const payload = new Uint8Array(64 * 1024);
    let sent = 0;
    while (sent < 10_000) {
      if (!client.sendFrame(1, sent, payload)) break;
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(sent).toBeLessThan(10_000);
    expect(client.stats.refusedBackpressure).toBe(1);
    expect(client.bufferedBytes).toBeLessThanOrEqual(256 * 1024);
    let drained = false;
    client.onDrain = () => {
      drained = true;
    };
    let received = 0;
    accepted[0].onFrame = () => received++;
    await waitFor(() => drained && received === sent, 10_000);
    expect(client.sendFrame(1, 0, payload)).toBe(true);
  });

  it('close(reason) reaches the other side; server close() closes its connections', async () => {
    const server = await listen();
    const accepted = echoServer(server);
    const first = await connect(server);
    const second = await connect(server);
    await waitFor(() => accepted.length === 2);
    const serverSide: string[] = [];
    accepted[0].onClose = (reason) => serverSide.push(reason);
    await first.close('migrating away');
    await waitFor(() => serverSide.length === 1);
    expect(serverSide).toEqual(['peer closed: migrating away']);
    const clientSide: string[] = [];
    second.onClose = (reason) => clientSide.push(reason);
    await server.close();
    await waitFor(() => clientSide.length === 1);
    expect(clientSide).toEqual(['peer closed: server closing']);
    expect(server.connections.size).toBe(0);
  });

  it('refuses a client certificate signed by another CA', async () => {
    const errors: Error[] = [];
    const server = await listen({ onHandshakeError: (e) => errors.push(e) });
    await expectRefused(server, connect(server, certs.otherCaClient), /did not accept/);
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
  });

  it('refuses an expired client certificate', async () => {
    const errors: Error[] = [];
    const server = await listen({ onHandshakeError: (e) => errors.push(e) });
    await expectRefused(server, connect(server, certs.expiredClient), /did not accept/);
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['CERT_HAS_EXPIRED']);
  });

  it('refuses a self-signed client certificate', async () => {
    const errors: Error[] = [];
    const server = await listen({ onHandshakeError: (e) => errors.push(e) });
    await expectRefused(server, connect(server, certs.selfSignedClient), /did not accept/);
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['DEPTH_ZERO_SELF_SIGNED_CERT']);
  });

  it('refuses a client without a certificate', async () => {
    const errors: Error[] = [];
    const server = await listen({ onHandshakeError: (e) => errors.push(e) });
    let accepted = 0;
    server.onConnection = () => accepted++;
    const socket = tlsConnect({ host: '127.0.0.1', port: server.address.port, ca: certs.ca.cert });
    cleanups.push(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const outcome = await new Promise<string>((resolve) => {
      socket.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
      socket.on('close', () => resolve('closed'));
    });
    expect(outcome).toMatch(/error|closed/);
    await waitFor(() => server.stats.handshakeFailures === 1);
    expect(accepted).toBe(0);
    expect(received).toEqual([]); // not even the READY frame
    expect(errors.map((e) => e.message).join()).toMatch(/peer did not return a certificate/);
  });

  it('refuses plain TCP: the socket is closed and no frame surfaces', async () => {
    const server = await listen();
    let accepted = 0;
    server.onConnection = () => accepted++;
    const socket = netConnect(server.address.port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(encodeFrame(1, 1, Uint8Array.from([1, 2, 3])));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await waitFor(() => server.stats.handshakeFailures === 1);
    expect(accepted).toBe(0);
  });

  it('refuses TLS 1.2 when the server requires 1.3', async () => {
    const server = await listen();
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: server.address.port,
      ca: certs.ca.cert,
      cert: certs.client.cert,
      key: certs.client.key,
      maxVersion: 'TLSv1.2',
    });
    cleanups.push(() => socket.destroy());
    const error = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(String((error as NodeJS.ErrnoException).code)).toMatch(/VERSION|PROTOCOL/);
    await waitFor(() => server.stats.handshakeFailures === 1);
  });

  it('the client refuses a server it cannot verify (certificate from another CA)', async () => {
    const server = await listen({ cert: certs.otherCaServer.cert, key: certs.otherCaServer.key });
    let accepted = 0;
    server.onConnection = () => accepted++;
    await expect(connect(server)).rejects.toThrow(/UNABLE_TO_VERIFY|unable to verify|self.signed/i);
    expect(accepted).toBe(0);
  });

  it('the client refuses a server whose certificate does not carry the expected name', async () => {
    const server = await listen();
    await expect(connect(server, certs.client, { servername: 'backend.example' })).rejects.toThrow(
      /ALTNAME|does not match|not in the cert/i,
    );
  });

  it('an authorize hook refuses a verified client with a reason', async () => {
    const server = await listen({
      authorize: (peer) => (peer.commonName === 'proxy-2' ? true : `proxy ${peer.commonName} not allowed`),
    });
    await expectRefused(server, connect(server), /proxy proxy-1 not allowed/);
    expect(server.stats.connectionsRefused).toBe(1);
  });

  it("the owner's authorize hook refuses before READY; the client gets a StreamRefusedError with the reason", async () => {
    const server = await listen();
    server.authorize = (peer) => `proxy ${peer?.commonName} is not on the list`;
    const refusal = await connect(server).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(StreamRefusedError);
    expect((refusal as StreamRefusedError).reason).toBe('proxy proxy-1 is not on the list');
    expect(server.stats.connectionsRefused).toBe(1);
    expect(server.stats.connectionsAccepted).toBe(0);
  });

  it('pause() stops reading the socket: the sender backs up; resume() delivers everything in order', async () => {
    const server = await listen();
    const accepted: StreamConnection[] = [];
    const got: number[] = [];
    server.onConnection = (c) => {
      accepted.push(c);
      c.onFrame = (_type, sessionId) => got.push(sessionId);
    };
    const client = await connect(server);
    await waitFor(() => accepted.length === 1);
    accepted[0].pause();
    const payload = new Uint8Array(16 * 1024);
    let sent = 0;
    // bounded: the client's 8 MiB buffer cap stops it once the paused socket backs up
    for (let i = 1; i <= 4096 && client.sendFrame(1, i, payload); i++) sent++;
    await new Promise((r) => setTimeout(r, 200));
    expect(client.bufferedBytes).toBeGreaterThan(0);
    const whilePaused = got.length;
    expect(whilePaused).toBeLessThan(sent);
    accepted[0].resume();
    await waitFor(() => got.length === sent, 10_000);
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  });

  it('an oversize frame closes the connection with a reason, counted', async () => {
    const server = await listen({ maxPayload: 64 * 1024 });
    const accepted = echoServer(server);
    const client = await connect(server, certs.client, { maxPayload: 256 * 1024 });
    const closes: string[] = [];
    client.onClose = (reason) => closes.push(reason);
    client.onFrame = () => {};
    await waitFor(() => accepted.length === 1);
    const serverCloses: string[] = [];
    let surfaced = 0;
    accepted[0].onFrame = () => surfaced++;
    accepted[0].onClose = (reason) => serverCloses.push(reason);
    expect(client.sendFrame(1, 1, new Uint8Array(100 * 1024))).toBe(true);
    await waitFor(() => closes.length === 1 && serverCloses.length === 1);
    expect(surfaced).toBe(0);
    expect(serverCloses[0]).toMatch(/^protocol error: too-long: frame payload of 102400 bytes exceeds 65536/);
    expect(closes[0]).toBe(`peer closed: ${serverCloses[0]}`);
    expect(accepted[0].stats.closedOversize).toBe(1);
    expect(server.stats.protocolErrors).toBe(1);
  });

  it('garbage after the handshake closes the connection with a reason, counted', async () => {
    const server = await listen();
    const accepted = echoServer(server);
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: server.address.port,
      ca: certs.ca.cert,
      cert: certs.client.cert,
      key: certs.client.key,
      ALPNProtocols: ['baton-stream/1'],
    });
    cleanups.push(() => socket.destroy());
    socket.on('error', () => {});
    socket.on('data', () => {}); // keep reading, or the server's FIN is never seen
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    await waitFor(() => accepted.length === 1);
    const reasons: string[] = [];
    accepted[0].onClose = (reason) => reasons.push(reason);
    socket.write(encodeFrame(FRAME_TYPE_RESERVED_MIN + 3, 0, Uint8Array.from([1])));
    await waitFor(() => reasons.length === 1);
    expect(reasons[0]).toMatch(/^protocol error: unexpected control frame/);
    expect(accepted[0].stats.closedInvalid).toBe(1);
    expect(server.stats.protocolErrors).toBe(1);
    await new Promise<void>((resolve) =>
      socket.destroyed ? resolve() : socket.once('close', () => resolve()),
    );
  });
});
