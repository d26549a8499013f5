/**
 * The example, end to end, with one command (`npm run example`): development certificates in
 * examples/.dev, two game backends (examples/game/backend.ts) and `baton proxy --config
 * examples/proxy.json` as separate processes, then bots playing through the proxy. Every
 * second one bot is migrated to the other backend through the admin endpoint; at the end
 * backend-1 is drained (`POST /backends/backend-1/drain`). Prints inputs sent, acknowledged
 * and lost. Ctrl-C stops everything and removes examples/.dev.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from 'baton-net/client';
import { createDevCertificates } from 'baton-net/cluster';
import { udpClient } from 'baton-net/server';
// development certificates; a deployment brings its own CA, proxy and backend certificates
import { Input, Processed, protocol } from './game/protocol.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dev = fileURLToPath(new URL('./.dev', import.meta.url));
const seconds = Number(process.env.SECONDS ?? 8);
const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env, TSX_TSCONFIG_PATH: 'examples/tsconfig.json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    for (const line of d.trimEnd().split('\n')) console.log(`[${name}] ${line}`);
  });
  children.push(child);
  return child;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; !(await cond()); ) {
    if (Date.now() > end || stopping) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const up = (url: string) => () =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

async function main(): Promise<boolean> {
  mkdirSync(dev, { recursive: true });
  // development certificates (what `baton certs` writes); a deployment brings its own
  const certs = await createDevCertificates({ backends: ['backend'], proxies: ['proxy-1'], validDays: 1 });
  const write = (name: string, pem: string) => writeFileSync(`${dev}/${name}`, pem, { mode: 0o600 });
  write('ca.crt', certs.ca.cert);
  write('proxy.crt', certs.proxies['proxy-1'].cert);
  write('proxy.key', certs.proxies['proxy-1'].key);
  write('backend.crt', certs.backends.backend.cert);
  write('backend.key', certs.backends.backend.key);
  for (const [i, id] of ['backend-1', 'backend-2'].entries()) {
    start(id, ['examples/game/backend.ts'], {
      BACKEND_ID: id,
      PORT: String(9101 + i),
      METRICS_PORT: String(9201 + i),
      CERTS: dev,
    });
  }
  await waitFor(
    () => ['backend-1', 'backend-2'].every((id) => existsSync(`${dev}/${id}.ticket.pub.pem`)),
    'backends',
  );
  start('proxy', ['src/cli/baton.ts', 'proxy', '--config', 'examples/proxy.json']);
  await waitFor(up('http://127.0.0.1:7780/stats'), 'the proxy');

  const bots = Array.from({ length: 6 }, () => ({
    client: new Client(protocol),
    sent: 0,
    acked: 0,
    disconnects: 0,
  }));
  for (const [i, bot] of bots.entries()) {
    bot.client.onMessage(Processed, () => bot.acked++);
    bot.client.on('disconnect', () => bot.disconnects++);
    await bot.client.connect(udpClient('127.0.0.1:7777'), { username: `bot${i + 1}` });
  }
  console.log(`${bots.length} bots playing through udp://127.0.0.1:7777`);
  let sending = true;
  const play = setInterval(() => {
    for (const bot of bots) {
      if (!sending || !bot.client.connected) continue;
      bot.sent++;
      bot.client.send('input', Input, { seq: bot.sent, dx: 1, dy: 0 });
    }
  }, 50);
  const admin = 'http://127.0.0.1:7780';
  // the admin token of examples/proxy.json; mutating requests are JSON
  const headers = {
    authorization: 'Bearer example-admin-token-change-me',
    'content-type': 'application/json',
  };
  for (let s = 0; s < seconds && !stopping; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    const sessions = (await (await fetch(`${admin}/sessions`, { headers })).json()) as {
      id: number;
      backendId: string;
      username: string;
    }[];
    const one = sessions[s % sessions.length];
    const to = one.backendId === 'backend-1' ? 'backend-2' : 'backend-1';
    const r = (await (
      await fetch(`${admin}/sessions/${one.id}/migrate?to=${to}`, { method: 'POST', headers, body: '{}' })
    ).json()) as { ok: boolean; freezeMs?: number };
    console.log(
      `migrated ${one.username} ${one.backendId} → ${to}: ${r.ok ? `ok, input held ${r.freezeMs?.toFixed(1)} ms` : JSON.stringify(r)}`,
    );
  }
  const drain = (await (
    await fetch(`${admin}/backends/backend-1/drain`, { method: 'POST', headers, body: '{}' })
  ).json()) as {
    moved: number;
  };
  console.log(`drained backend-1: ${drain.moved} players moved to backend-2`);
  sending = false;
  await waitFor(() => bots.every((b) => b.acked >= b.sent), 'the last acknowledgements', 5000).catch(
    () => {},
  );
  clearInterval(play);
  const sent = bots.reduce((n, b) => n + b.sent, 0);
  const acked = bots.reduce((n, b) => n + b.acked, 0);
  const disconnects = bots.reduce((n, b) => n + b.disconnects, 0);
  const metrics = await (await fetch(`${admin}/metrics`, { headers })).text();
  const ok = metrics.match(/^baton_proxy_migrations_total\{outcome="ok"[^}]*\} (\d+)/m)?.[1] ?? '0';
  console.log(
    `migrations ok (from /metrics): ${ok} | disconnects: ${disconnects} | inputs sent ${sent}, processed ${acked}`,
  );
  const b2 = await (await fetch('http://127.0.0.1:9202/metrics')).text();
  const users = b2.match(/^baton_server_users\{state="playing"[^}]*\} (\d+)/m)?.[1];
  console.log(`backend-2 metrics: ${users} players (http://127.0.0.1:9202/metrics)`);
  console.log(`inputs lost: ${sent - acked}`);
  await Promise.all(bots.map((b) => b.client.close('example over')));
  return sent === acked && disconnects === 0;
}

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  await Promise.all(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
  );
  rmSync(dev, { recursive: true, force: true });
}

process.once('SIGINT', () => {
  stopping = true;
});
main().then(
  async (ok) => {
    await cleanup();
    process.exit(ok ? 0 : 1);
  },
  async (error: Error) => {
    console.error(`example: ${error.message}`);
    await cleanup();
    process.exit(1);
  },
);
