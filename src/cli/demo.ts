import { Client } from '../client/Client.js';
import { component, defineProtocol, type Entity, message, t } from '../index.js';
import { Server } from '../server/Server.js';
import { generateIssuerKeys, mintIdentityToken } from '../session/node/index.js';
import { randomUuid } from '../session/packets/uuid.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../transport/index.js';
import type { DatagramClientTransport, TransportAddress } from '../transport/types.js';
import { sleep } from './signals.js';

/** Options of the `demo` subcommand. */
export interface DemoOptions {
  durationSeconds: number;
  transport: 'udp' | 'ws';
  bots: number;
  /** Where the summary lines go (default console.log). */
  log?: (line: string) => void;
  /** Ends the demo early (Ctrl-C): it still closes everything and removes its temporary files. */
  signal?: AbortSignal;
}

/** Side of the square world; positions wrap around. */
const WORLD = 200;
/** Interest radius the bots ask for: they see about a quarter of the world. */
const VIEW_RADIUS = 60;
const CRITTERS = 24;
const PLAYER_SPEED = 2;

const Position = component('Position', { x: t.f32, y: t.f32 });
/** What an entity is: 0 player (server-owned, moved by its bot's input), 1 critter, 2 beacon (bot-owned). */
const Kind = component('Kind', { kind: t.u8, owner: t.u32 });
const Chat = message('Chat', { from: t.u32, text: t.string(120) });
const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });

const protocol = defineProtocol({
  tickRate: 20,
  components: [Position, Kind],
  messages: [Chat, Input],
  channels: {
    chat: { mode: 'ordered-reliable' },
    input: { mode: 'tick-buffered' },
  },
  clientAuthoritativeEntities: true,
});

const wrap = (v: number) => ((v % WORLD) + WORLD) % WORLD;

/**
 * A server and a few bots on 127.0.0.1. Bots authenticate with real Ed25519 identity tokens
 * (minted here by a throwaway issuer), each steers a server-owned player entity with
 * tick-buffered inputs and carries a public entity of its own around; the server also runs a
 * few wandering critters. Each bot sees only what lies within its view radius of its player.
 * Chat goes on an ordered-reliable channel. A live summary prints every second. Resolves once
 * everything is closed.
 */
export async function runDemo(o: DemoOptions): Promise<void> {
  const log = o.log ?? ((line: string) => console.log(line));
  const issuer = generateIssuerKeys('demo-issuer');
  const server = new Server(protocol, {
    name: 'baton demo',
    motd: 'welcome',
    maxPlayers: 64,
    identityKeys: { [issuer.keyId]: issuer.publicKey },
    interest: { component: Position, x: 'x', y: 'y', maxRadius: 100 },
  });
  const address = await server.listen(
    o.transport === 'ws' ? websocketServer({ port: 0 }) : udpServer({ port: 0 }),
  );
  log(`server listening on ${describe(address)} (protocol ${protocol.hashHex}, ${protocol.tickRate} Hz)`);

  const room = server.createRoom();
  const critters: Entity[] = [];
  for (let i = 0; i < CRITTERS; i++) {
    const e = server
      .spawn()
      .insert(Position, { x: Math.random() * WORLD, y: Math.random() * WORLD })
      .insert(Kind, { kind: 1, owner: 0 });
    room.addEntity(e);
    critters.push(e);
  }
  const players = new Map<number, Entity>();
  server.on('connect', (u) => {
    const player = server
      .spawn()
      .insert(Position, { x: Math.random() * WORLD, y: Math.random() * WORLD })
      .insert(Kind, { kind: 0, owner: u.id });
    players.set(u.id, player);
    room.addUser(u).addEntity(player);
    server.setViewCenter(u, player);
    server.broadcast('chat', Chat, { from: 0, text: `${u.username} joined` });
  });
  server.on('disconnect', (u, reason) => {
    players.get(u.id)?.despawn();
    players.delete(u.id);
    log(`  ${u.username} left: ${reason}`);
  });
  // bot-owned entities live in the shared room; the bot made them public, so others see them
  server.on('spawn', (e) => room.addEntity(e));
  server.onMessage(Input, (u, v) => {
    const p = players.get(u.id)?.get(Position);
    if (p) {
      p.x = wrap(p.x + v.dx * PLAYER_SPEED);
      p.y = wrap(p.y + v.dy * PLAYER_SPEED);
    }
  });
  server.onMessage(Chat, (u, v) => server.broadcast('chat', Chat, { from: u.id, text: v.text }));

  const dial = (): DatagramClientTransport =>
    o.transport === 'ws' ? websocketClient(address) : udpClient(address);
  const bots: Client<'chat' | 'input'>[] = [];
  const beacons = new Map<Client<'chat' | 'input'>, { e: Entity; angle: number; cx: number; cy: number }>();
  let chatsSeen = 0;
  let worldEvents = 0;
  await Promise.all(
    Array.from({ length: o.bots }, async (_, i) => {
      const bot = new Client(protocol);
      bot.onMessage(Chat, () => chatsSeen++);
      bot.on('spawn', () => worldEvents++);
      bot.on('update', () => worldEvents++);
      bot.setViewRadius(VIEW_RADIUS);
      const uuid = randomUuid();
      const username = `bot${i + 1}`;
      const identityToken = mintIdentityToken({
        uuid,
        username,
        keyId: issuer.keyId,
        privateKey: issuer.privateKey,
      });
      await bot.connect(dial(), { uuid, username, identityToken, clientType: 'bot' });
      const cx = Math.random() * WORLD;
      const cy = Math.random() * WORLD;
      const e = bot
        .spawn()
        .insert(Position, { x: cx, y: cy })
        .insert(Kind, { kind: 2, owner: bot.id ?? 0 });
      e.configureReplication('public');
      beacons.set(bot, { e, angle: 0, cx, cy });
      bots.push(bot);
    }),
  );
  log(`${bots.length} bots connected over ${o.transport} with Ed25519 identity tokens`);

  let seq = 0;
  const heading = bots.map(() => ({ dx: 1, dy: 0 }));
  const loop = setInterval(() => {
    for (const c of critters) {
      const p = c.get(Position);
      p.x = wrap(p.x + (Math.random() - 0.5) * 2);
      p.y = wrap(p.y + (Math.random() - 0.5) * 2);
    }
    for (const [i, bot] of bots.entries()) {
      if (!bot.connected) continue;
      if (Math.random() < 0.05) {
        heading[i] = { dx: Math.floor(Math.random() * 3) - 1, dy: Math.floor(Math.random() * 3) - 1 };
      }
      bot.send('input', Input, { seq: seq++, ...heading[i] });
      const b = beacons.get(bot);
      if (b?.e.alive) {
        b.angle += 0.1;
        const p = b.e.get(Position);
        p.x = wrap(b.cx + Math.cos(b.angle) * 20);
        p.y = wrap(b.cy + Math.sin(b.angle) * 20);
      }
      if (Math.random() < 0.02) bot.send('chat', Chat, { from: 0, text: `hello from bot${i + 1}` });
    }
  }, protocol.tickIntervalMs);

  let last = { ...server.stats, at: performance.now() };
  const summary = setInterval(() => {
    const now = { ...server.stats, at: performance.now() };
    const dt = (now.at - last.at) / 1000;
    const msgs = now.messagesIn + now.messagesOut - (last.messagesIn + last.messagesOut);
    const bytes = now.bytesIn + now.bytesOut - (last.bytesIn + last.bytesOut);
    const worldBytes = now.world.bytesOut - last.world.bytesOut;
    const users = server.users;
    const rtt = users.length ? users.reduce((n, u) => n + u.rttMs, 0) / users.length : 0;
    const live = bots.filter((b) => b.connected);
    const perClient = live.length ? live.reduce((n, b) => n + b.stats.world.entities, 0) / live.length : 0;
    log(
      `users ${users.length} | entities: server ${now.world.entities}, per client ${perClient.toFixed(1)} | ` +
        `bytes/s ${(bytes / dt).toFixed(0)} (world out ${(worldBytes / dt).toFixed(0)}) | msgs/s ${(msgs / dt).toFixed(0)} | ` +
        `rtt ${rtt.toFixed(1)} ms | tick ${server.tick} | world events seen ${worldEvents} | chat seen ${chatsSeen} | ` +
        `dropped ${now.dropped.malformed + now.dropped.unknownPeer + now.world.framesDropped}`,
    );
    last = now;
  }, 1000);

  await sleep(o.durationSeconds * 1000, o.signal);
  clearInterval(loop);
  clearInterval(summary);
  await Promise.all(bots.map((b) => b.close('demo over')));
  await server.close('demo over');
  const s = server.stats;
  log(
    `done: ${s.sessionsAccepted} sessions, ${s.messagesIn} messages in, ${s.messagesOut} out, ` +
      `${s.world.framesOut} world frames (${s.world.bytesOut} bytes) out, ${s.world.framesIn} in`,
  );
}

function describe(a: TransportAddress): string {
  return a.url ?? `${a.transport}://${a.host}:${a.port}`;
}
