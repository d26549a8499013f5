import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { formatTrace, readTrace } from '../src/proxy/index.js';
import { udpClient } from '../src/transport/index.js';
import { newClient, startBackend, startProxy } from './helpers/cluster.js';
import { Chat } from './helpers/protocol.js';
import { createTestCertificates, type TestCertificates } from './helpers/testCertificates.js';
import { waitFor } from './helpers/transports.js';

let certs: TestCertificates;
let dir: string;
beforeAll(async () => {
  certs = await createTestCertificates();
  dir = mkdtempSync(join(tmpdir(), 'baton-trace-'));
});
afterAll(() => {
  certs?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('proxy trace', () => {
  it('records a traced session’s packets as JSON lines and reads them back in order', async () => {
    const registry = new InMemoryRegistry();
    const b = await startBackend(certs, registry, 'backend-a');
    const file = join(dir, 'trace.jsonl');
    const { proxy, udp } = await startProxy(certs, registry, {
      trace: { file, filter: (c) => c.username === 'traced' },
    });
    const traced = newClient();
    const quiet = newClient();
    await traced.connect(udpClient(udp), { username: 'traced' });
    await quiet.connect(udpClient(udp), { username: 'quiet' });
    traced.setViewRadius(50);
    traced.send('chat', Chat, { from: 0, text: 'hello' });
    expect(await waitFor(() => b.server.stats.messagesIn >= 1)).toBe(true);
    await traced.close();
    await quiet.close();
    await proxy.close();
    await b.server.close();
    const records = readTrace(file);
    const sid = records[0].s;
    expect(records.every((r) => r.s === sid)).toBe(true);
    const kinds = records.map((r) => `${r.hop}/${r.dir}/${r.kind}`);
    const order = [
      'client/in/Connect',
      'backend/out/PlayerOpen',
      'backend/in/SetClientId',
      'backend/in/PlayerAccept',
      'client/out/ConnectAccept',
      'backend/in/JoinWorld',
      'client/in/ViewRadius',
      'backend/out/message:0',
    ];
    let at = -1;
    for (const k of order) {
      const i = kinds.indexOf(k, at + 1);
      expect(i, k).toBeGreaterThan(at);
      at = i;
    }
    const text = formatTrace(records);
    expect(text[0]).toMatch(/^session \d+: \d+ packets$/);
    expect(text.join('\n')).toContain('client  → proxy    Connect');
  }, 30_000);
});
