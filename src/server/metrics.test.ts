import { describe, expect, it } from 'vitest';
import { Client } from '../client/Client.js';
import { defineProtocol, message, t } from '../index.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { MemoryHub } from '../transport/browser.js';
import { ManualClock } from '../util/Clock.js';
import { Server } from './Server.js';

const Say = message('Say', { text: t.string(50) });
const protocol = defineProtocol({
  tickRate: 20,
  messages: [Say],
  channels: { up: { mode: 'ordered-reliable', direction: 'client-to-server' } },
});

/** The value of one sample line of the exposition text (undefined when absent). */
function sample(text: string, line: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
}

describe('server metrics and tick event', () => {
  it('counts users, messages and ticks in a per-server registry; fires tick with the tick it ran', async () => {
    const clock = new ManualClock();
    const hub = new MemoryHub({ clock });
    const server = new Server(protocol, { clock, authenticator: new OfflineAuthenticator(), name: 's1' });
    const other = new Server(protocol, { clock, authenticator: new OfflineAuthenticator(), name: 's2' });
    const address = await server.listen(hub.server());
    const metrics = server.metrics;
    const ticks: number[] = [];
    server.on('tick', (tick) => ticks.push(tick));
    const client = new Client(protocol, { clock });
    const step = async () => {
      await new Promise((r) => setImmediate(r));
      hub.advance(50);
      server.step();
      client.step();
    };
    const connecting = client.connect(hub.client(address), { username: 'p' });
    for (let i = 0; i < 40 && !client.connected; i++) await step();
    await connecting;
    client.send('up', Say, { text: 'hi' });
    client.send('up', Say, { text: 'again' });
    for (let i = 0; i < 5; i++) await step();
    expect(ticks.length).toBeGreaterThan(5);
    expect(ticks).toEqual(ticks.map((_, i) => ticks[0] + i));
    expect(ticks.at(-1)).toBe(server.tick - 1);
    const text = await metrics.text();
    expect(sample(text, 'baton_server_users{state="playing",server="s1"}')).toBe(1);
    expect(sample(text, 'baton_server_messages_total{direction="in",server="s1"}')).toBe(2);
    expect(sample(text, 'baton_server_tick_seconds_count{server="s1"}')).toBe(ticks.length);
    expect(sample(text, 'baton_server_entities{server="s1"}')).toBe(0);
    // another server in the same process has its own series (no global registry)
    expect(sample(await other.metrics.text(), 'baton_server_users{state="playing",server="s2"}')).toBe(0);
    await client.close();
    await server.close();
    await other.close();
  });
});
