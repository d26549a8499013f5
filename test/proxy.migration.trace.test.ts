import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import { readTrace } from '../src/proxy/index.js';
import type { ClusterChannels } from './helpers/cluster.js';
import { type MemCluster, memCluster, until } from './helpers/migration.js';

/**
 * The minimal packet set of a cutover (DESIGN §5 "Trace"; docs/design/migration.md): what B
 * sends a player that joins it directly is read from the proxy trace, and a migrated client
 * must end in the same session state from the Migrate packet alone.
 */
const open: MemCluster[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of open.splice(0)) await c.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SESSION_KINDS = new Set(['SetClientId', 'ServerInfo', 'WorldSettings', 'JoinWorld', 'PlayerAccept']);

function clientState(
  c: Client<ClusterChannels>,
  b: MemCluster['backends'] extends Map<string, infer B> ? B : never,
) {
  const user = b.server.users.find((u) => u.id === c.id);
  return {
    clientIdIsBackends: user !== undefined,
    serverInfo: c.serverInfo,
    worldSettings: c.worldSettings && [...c.worldSettings],
    readyOnBackend: user?.ready,
    connected: c.connected,
  };
}

describe('cutover packet set (trace-verified)', () => {
  it('the Migrate carries exactly what a direct join on B sends, and the client ends in the same state', async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-trace-'));
    const file = join(dir, 'trace.jsonl');
    const worldSettings = (id: string) => new TextEncoder().encode(`world of ${id}`);
    const cluster = await memCluster([], { proxy: { trace: { file } } });
    open.push(cluster);
    for (const id of ['a', 'b'])
      await cluster.addBackend(id, { server: { worldSettings: worldSettings(id), motd: `motd ${id}` } });
    const joined: string[] = [];
    const direct = cluster.client();
    const moved = cluster.client();
    moved.on('joinWorld', () => joined.push('moved'));
    timers.push(
      setInterval(() => {
        direct.step();
        moved.step();
      }, 20),
    );
    // fill A so the direct client lands on B; the other stays on A, then moves to B
    await moved.connect(cluster.hub.client(cluster.address), { username: 'moved' });
    await direct.connect(cluster.hub.client(cluster.address), { username: 'direct' });
    const sessions = cluster.proxy.sessions();
    const sDirect = sessions.find((s) => s.username === 'direct')!;
    const sMoved = sessions.find((s) => s.username === 'moved')!;
    const b = sDirect.backendId!;
    expect(sMoved.backendId).not.toBe(b);
    const backend = cluster.backends.get(b)!;
    await until(() => backend.server.users.some((u) => u.ready), 2000, 'direct client ready');
    const r = await cluster.proxy.migrate(sMoved.id, b);
    expect(r.ok).toBe(true);
    await until(() => backend.server.users.filter((u) => u.ready).length === 2, 2000, 'moved client ready');

    // the trace: what B sent the direct joiner during setup and world entry…
    await new Promise((res) => setTimeout(res, 50));
    const trace = readTrace(file);
    const directSetup = trace
      .filter((t) => t.s === sDirect.id && t.hop === 'backend' && t.dir === 'in' && SESSION_KINDS.has(t.kind))
      .map((t) => t.kind)
      .filter((k) => k !== 'PlayerAccept');
    // …and what the Migrate carried
    const migrate = trace.find((t) => t.s === sMoved.id && t.kind.startsWith('Migrate['));
    expect(migrate).toBeDefined();
    const carried = migrate!.kind.slice('Migrate['.length, -1).split(',');
    expect(directSetup).toEqual(['SetClientId', 'ServerInfo', 'WorldSettings', 'JoinWorld']);
    expect(carried).toEqual(directSetup);

    // same session state as the direct joiner (the id is B's, for each)
    const a = clientState(direct, backend);
    const m = clientState(moved, backend);
    expect(m).toEqual(a);
    expect(m.serverInfo?.motd).toBe(`motd ${b}`);
    expect(joined).toEqual(['moved', 'moved']); // A's JoinWorld at connect, B's at cutover
  });
});
