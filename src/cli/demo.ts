import { Client } from '../client/Client.js';
import { defineProtocol, message, t } from '../index.js';
import { Server } from '../server/Server.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../transport/index.js';
import type { DatagramClientTransport, TransportAddress } from '../transport/types.js';

/** Options of the `demo` subcommand. */
export interface DemoOptions {
  durationSeconds: number;
  transport: 'udp' | 'ws';
  bots: number;
  /** Where the summary lines go (default console.log). */
  log?: (line: string) => void;
}

const Chat = message('Chat', { from: t.u32, text: t.string(120) });
const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
const State = message('State', { tick: t.u32, players: t.u8, x: t.f32, y: t.f32 });

const protocol = defineProtocol({
  tickRate: 20,
  messages: [Chat, Input, State],
  channels: {
    chat: { mode: 'ordered-reliable' },
    input: { mode: 'tick-buffered' },
    state: { mode: 'unreliable', direction: 'server-to-client' },
  },
});

/**
 * A server and a few bots on 127.0.0.1 exchanging chat (ordered-reliable), inputs
 * (tick-buffered) and a state broadcast (unreliable), with a live summary every second.
 * Resolves once everything is closed.
 */
export async function runDemo(o: DemoOptions): Promise<void> {
  const log = o.log ?? ((line: string) => console.log(line));
  const server = new Server(protocol, { name: 'baton demo', motd: 'welcome', maxPlayers: 64 });
  const address = await server.listen(
    o.transport === 'ws' ? websocketServer({ port: 0 }) : udpServer({ port: 0 }),
  );
  log(`server listening on ${describe(address)} (protocol ${protocol.hashHex}, ${protocol.tickRate} Hz)`);

  const pos = new Map<number, { x: number; y: number }>();
  server.on('connect', (u) => {
    pos.set(u.id, { x: 0, y: 0 });
    server.broadcast('chat', Chat, { from: 0, text: `${u.username} joined` });
  });
  server.on('disconnect', (u, reason) => {
    pos.delete(u.id);
    log(`  ${u.username} left: ${reason}`);
  });
  server.onMessage(Input, (u, v) => {
    const p = pos.get(u.id);
    if (p) {
      p.x += v.dx;
      p.y += v.dy;
    }
  });
  server.onMessage(Chat, (u, v) => server.broadcast('chat', Chat, { from: u.id, text: v.text }));

  const dial = (): DatagramClientTransport =>
    o.transport === 'ws' ? websocketClient(address) : udpClient(address);
  const bots: Client<'chat' | 'input' | 'state'>[] = [];
  let chatsSeen = 0;
  let statesSeen = 0;
  await Promise.all(
    Array.from({ length: o.bots }, async (_, i) => {
      const bot = new Client(protocol);
      bot.onMessage(Chat, () => chatsSeen++);
      bot.onMessage(State, () => statesSeen++);
      await bot.connect(dial(), { username: `bot${i + 1}`, clientType: 'bot' });
      bots.push(bot);
    }),
  );
  log(`${bots.length} bots connected over ${o.transport}`);

  let seq = 0;
  const loop = setInterval(() => {
    for (const [id, p] of pos) {
      const user = server.user(id);
      if (user) server.send(user, 'state', State, { tick: server.tick, players: pos.size, x: p.x, y: p.y });
    }
    for (const [i, bot] of bots.entries()) {
      if (!bot.connected) continue;
      bot.send('input', Input, { seq: seq++, dx: (i % 3) - 1, dy: 1 });
      if (Math.random() < 0.1) bot.send('chat', Chat, { from: 0, text: `hello from bot${i + 1}` });
    }
  }, protocol.tickIntervalMs);

  let last = { ...server.stats, at: performance.now() };
  const summary = setInterval(() => {
    const now = { ...server.stats, at: performance.now() };
    const dt = (now.at - last.at) / 1000;
    const msgs = now.messagesIn + now.messagesOut - (last.messagesIn + last.messagesOut);
    const bytes = now.bytesIn + now.bytesOut - (last.bytesIn + last.bytesOut);
    const users = server.users;
    const rtt = users.length ? users.reduce((n, u) => n + u.rttMs, 0) / users.length : 0;
    log(
      `users ${users.length} | msgs/s ${(msgs / dt).toFixed(0)} | bytes/s ${(bytes / dt).toFixed(0)} | ` +
        `rtt ${rtt.toFixed(1)} ms | tick ${server.tick} | chat seen ${chatsSeen} | states seen ${statesSeen} | ` +
        `dropped ${now.dropped.malformed + now.dropped.unknownPeer}`,
    );
    last = now;
  }, 1000);

  await new Promise((resolve) => setTimeout(resolve, o.durationSeconds * 1000));
  clearInterval(loop);
  clearInterval(summary);
  await Promise.all(bots.map((b) => b.close('demo over')));
  await server.close('demo over');
  log(
    `done: ${server.stats.sessionsAccepted} sessions, ${server.stats.messagesIn} messages in, ${server.stats.messagesOut} out`,
  );
}

function describe(a: TransportAddress): string {
  return a.url ?? `${a.transport}://${a.host}:${a.port}`;
}
