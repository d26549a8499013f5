import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { generateEd25519KeyPair, InMemoryNonceStore } from '../src/cluster/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { udpClient } from '../src/transport/index.js';
import { tlsStreamServer } from '../src/transport/stream/index.js';
import { type BatonRun, parseMetrics, repoRoot, runBaton, waitUntil } from './helpers/childProcess.js';
import { type ClusterChannels, clusterProtocol } from './helpers/cluster.js';
import { Input } from './helpers/protocol.js';
import { createTestCertificates, type TestCertificates } from './helpers/testCertificates.js';

/**
 * `baton proxy --config` as a service: a child process, configured by a file, in front of two
 * backends; bots connect, are migrated through the admin endpoint, the metrics say so, and
 * SIGTERM ends it cleanly.
 */
let certs: TestCertificates;
let dir: string;
const running: BatonRun[] = [];
const closers: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  certs = await createTestCertificates();
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-test-'));
});
afterAll(() => {
  certs?.dispose();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
});

const TOKEN = 'test-admin-token-0123456789';

/** What a command left in its temporary folder (tsx's compile cache, of the test's dev runtime, aside). */
function leftovers(tmp: string): string[] {
  return readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
}

describe('baton proxy --config (child process)', () => {
  it('runs from a config file with two backends: bots connect, migrate via admin, metrics count it, SIGTERM exits 0', async () => {
    const nonces = new InMemoryNonceStore();
    const keys = new Map<string, ReturnType<typeof generateEd25519KeyPair>>();
    const processed = new Map<string, number[]>();
    const backends: { id: string; port: number }[] = [];
    for (const id of ['b1', 'b2']) {
      const pair = generateEd25519KeyPair();
      keys.set(id, pair);
      const server = new Server(clusterProtocol, { authenticator: new OfflineAuthenticator(), name: id });
      server.onMessage(Input, (u, v) => {
        const seqs = processed.get(u.uuid) ?? [];
        seqs.push(v.seq);
        processed.set(u.uuid, seqs);
      });
      const address = await server.listenProxies(
        tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
        {
          backendId: id,
          tickets: {
            privateKey: pair.privateKey,
            publicKeyOf: async (b) => keys.get(b)?.publicKey,
            nonceStore: nonces,
          },
        },
      );
      closers.push(() => server.close());
      backends.push({ id, port: address.port });
      writeFileSync(
        join(dir, `${id}.ticket.pub.pem`),
        pair.publicKey.export({ format: 'pem', type: 'spki' }),
      );
    }
    writeFileSync(join(dir, 'proxy.crt'), certs.client.cert);
    writeFileSync(join(dir, 'proxy.key'), certs.client.key);
    writeFileSync(join(dir, 'ca.crt'), certs.ca.cert);
    const config = {
      id: 'proxy-1',
      protocol: { module: join(repoRoot, 'test/helpers/cluster.ts'), export: 'clusterProtocol' },
      auth: { mode: 'offline' },
      listeners: [{ type: 'udp', host: '127.0.0.1', port: 0 }],
      backendTls: { cert: 'proxy.crt', key: 'proxy.key', ca: 'ca.crt' },
      pools: [{ name: 'default', seamlessMigration: true }],
      backends: backends.map((b) => ({
        id: b.id,
        host: '127.0.0.1',
        port: b.port,
        capacity: 100,
        ticketPublicKey: `${b.id}.ticket.pub.pem`,
      })),
      admin: { port: 0, token: TOKEN },
      log: { level: 'info' },
      migration: { overlapMs: 100 },
    };
    const file = join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify(config, null, 2));
    const filesBefore = [...readdirSync(dir), 'tmp'].sort();

    // its own temporary folder: whatever it leaves there is a leftover
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const run = runBaton(['proxy', '--config', file], { TMPDIR: tmp });
    running.push(run);
    await waitUntil(
      () => run.stdout.includes('"proxy listening"') || run.child.exitCode !== null,
      30_000,
      'proxy listening',
    );
    const listening = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as {
            msg: string;
            listeners?: string[];
            admin?: number;
            pools?: { seamlessMigration: boolean }[];
          },
      )
      .find((l) => l.msg === 'proxy listening');
    expect(listening, run.stderr).toBeDefined();
    expect(listening!.pools![0].seamlessMigration).toBe(true);
    const udp = new URL(listening!.listeners![0]);
    const admin = `http://127.0.0.1:${listening!.admin}`;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

    // bots: each sends Input { seq } on the ordered-reliable channel every 20 ms
    const bots: { client: Client<ClusterChannels>; sent: number; disconnects: string[] }[] = [];
    for (let i = 0; i < 4; i++) {
      const client = new Client(clusterProtocol, { handshakeTimeoutMs: 10_000 });
      const bot = { client, sent: 0, disconnects: [] as string[] };
      client.on('disconnect', (r) => bot.disconnects.push(r));
      closers.push(() => client.close());
      await client.connect(udpClient({ transport: 'udp', host: udp.hostname, port: Number(udp.port) }), {
        username: `bot${i}`,
      });
      bots.push(bot);
    }
    const play = setInterval(() => {
      for (const b of bots) {
        if (!b.client.connected) continue;
        b.sent++;
        b.client.send('chat', Input, { seq: b.sent, dx: 0, dy: 0 });
      }
    }, 20);
    closers.push(async () => clearInterval(play));

    const sessions = (await (await fetch(`${admin}/sessions`, { headers })).json()) as {
      id: number;
      backendId: string;
    }[];
    expect(sessions).toHaveLength(4);
    for (const s of sessions) {
      const to = s.backendId === 'b1' ? 'b2' : 'b1';
      const res = await fetch(`${admin}/sessions/${s.id}/migrate?to=${to}`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    const metrics = parseMetrics(await (await fetch(`${admin}/metrics`, { headers })).text());
    expect(metrics.get('baton_proxy_migrations_total{outcome="ok",state="Done",proxy="proxy-1"}')).toBe(4);
    expect(metrics.get('baton_proxy_migrations_started_total{proxy="proxy-1"}')).toBe(4);
    expect(metrics.get('baton_proxy_migration_freeze_seconds_count{proxy="proxy-1"}')).toBe(4);
    expect(metrics.get('baton_proxy_sessions{state="active",proxy="proxy-1"}')).toBe(4);
    expect(
      metrics.get('baton_proxy_bytes_total{hop="client",direction="in",proxy="proxy-1"}'),
    ).toBeGreaterThan(0);

    // every input sent so far arrives, in order, once (the moves lost nothing)
    clearInterval(play);
    const uuids = bots.map((b) => (b.client as unknown as { identity: { uuid: string } }).identity.uuid);
    await waitUntil(
      () => bots.every((b, i) => (processed.get(uuids[i])?.length ?? 0) >= b.sent),
      10_000,
      'every input processed',
    );
    bots.forEach((b, i) => {
      expect(processed.get(uuids[i])).toEqual(Array.from({ length: b.sent }, (_, k) => k + 1));
    });
    expect(bots.every((b) => b.disconnects.length === 0)).toBe(true);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout).toContain('"proxy closed"');
    await waitUntil(() => bots.every((b) => !b.client.connected), 10_000, 'bots told the proxy is gone');
    expect(bots.map((b) => b.disconnects)).toEqual(
      bots.map(() => [expect.stringContaining('proxy shutting down')]),
    );
    // no leftover files: the config folder holds what the test wrote, nothing more
    expect(readdirSync(dir).sort()).toEqual(filesBefore);
    expect(leftovers(tmp)).toEqual([]);
  }, 180_000);
});

describe('baton command line', () => {
  it('Ctrl-C ends the demo early: everything closed, nothing left in its temporary folder, exit 0', async () => {
    const tmp = mkdtempSync(join(dir, 'demo-tmp-'));
    const run = runBaton(['demo', '--duration', '120', '--bots', '2'], { TMPDIR: tmp });
    running.push(run);
    await waitUntil(
      () => run.stdout.includes('bots playing') || run.child.exitCode !== null,
      30_000,
      'demo running',
    );
    run.child.kill('SIGINT');
    expect(await run.exited, run.stderr).toBe(0);
    expect(run.stdout).toContain('inputs lost: 0');
    expect(leftovers(tmp)).toEqual([]);
  }, 180_000);

  it('--version prints the package version; -h works on every subcommand', async () => {
    const v = runBaton(['--version']);
    expect(await v.exited).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const cmd of [
      ['proxy', '-h'],
      ['demo', '-h'],
      ['trace', '-h'],
    ]) {
      const r = runBaton(cmd);
      expect(await r.exited, cmd.join(' ')).toBe(0);
      expect(r.stdout).toContain(`usage: baton ${cmd[0]}`);
    }
  }, 60_000);

  it('usage errors and invalid configs exit 2 with every problem named, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['proxy'], /--config <file> is required/],
      [['demo', '--bots', 'x'], /--bots must be a positive integer/],
      [['demo', '--nope'], /Unknown option '--nope'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['trace'], /one trace file expected/],
    ];
    for (const [args, message] of cases) {
      const r = runBaton(args);
      expect(await r.exited, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('usage: baton');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        protocol: { module: './nowhere.js' },
        auth: { mode: 'offline' },
        listeners: [{ type: 'udp', port: 99999 }],
        backendTls: { cert: 'x', key: 'y', ca: 'z' },
        backends: [{ id: 'b1', host: '127.0.0.1', port: 'x' }],
        admn: {},
      }),
    );
    const r = runBaton(['proxy', '--config', bad]);
    expect(await r.exited).toBe(2);
    expect(r.stderr).toContain('3 problems');
    expect(r.stderr).toContain('listeners[0].port:');
    expect(r.stderr).toContain('backends[0].port:');
    expect(r.stderr).toContain('admn: unknown field');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // valid shape, but files missing and a seamless pool whose backend cannot verify tickets
    writeFileSync(
      bad,
      JSON.stringify({
        protocol: { module: './nowhere.js' },
        auth: { mode: 'offline' },
        listeners: [{ type: 'udp', port: 0 }],
        backendTls: { cert: 'x.crt', key: 'y.key', ca: 'z.crt' },
        backends: [{ id: 'b1', host: '127.0.0.1', port: 9 }],
      }),
    );
    const s = runBaton(['proxy', '--config', bad]);
    expect(await s.exited).toBe(2);
    expect(s.stderr).toContain("backends[0].ticketPublicKey: pool 'default' claims seamless migration");
    writeFileSync(
      bad,
      JSON.stringify({
        protocol: { module: './nowhere.js' },
        auth: { mode: 'offline' },
        listeners: [{ type: 'udp', port: 0 }],
        backendTls: { cert: 'x.crt', key: 'y.key', ca: 'z.crt' },
        pools: [{ name: 'default', seamlessMigration: false }],
        backends: [{ id: 'b1', host: '127.0.0.1', port: 9 }],
      }),
    );
    const f = runBaton(['proxy', '--config', bad]);
    expect(await f.exited).toBe(2);
    for (const p of [
      'backendTls.cert: cannot read x.crt',
      'backendTls.key:',
      'backendTls.ca:',
      'protocol.module: cannot import',
    ])
      expect(f.stderr).toContain(p);
  }, 180_000);
});
