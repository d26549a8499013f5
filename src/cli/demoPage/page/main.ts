/**
 * The demo page's script (bundled to `demo-page.js`; the library comes from `baton-client.js`):
 * the visitor is a player connected through the proxy over the browser's WebSocket, moved with
 * the arrow keys; the canvas draws the whole cluster from the page server's snapshots.
 */
import { browserWebSocketClient, Client, type WebSocketConstructor } from '../../../client/browser.js';
import {
  type DemoMigrationEvent,
  type DemoSnapshot,
  regionBounds,
  VISITOR_PREFIX,
  WORLD,
} from '../geometry.js';
import { Input, protocol } from '../protocol.js';

/** World units an avatar moves per tick while an arrow key is held. */
const STEP = 2;
/** Inputs still unprocessed this long after the last one was sent count as lost. */
const SETTLE_MS = 2000;
/** A dropped connection (tab backgrounded, Wi-Fi switch) resumes the same session within this. */
const RESUME_WINDOW_MS = 10_000;
const COLOURS = ['#4f8fe8', '#e8a14f', '#5fc27a', '#c25fb8', '#e05d5d', '#48c0c0'];

/** The page's own counters, also read by the browser test. */
const state = {
  name: `${VISITOR_PREFIX}${Math.random().toString(36).slice(2, 6)}`,
  uuid: crypto.randomUUID(),
  connected: false,
  backend: '',
  migrations: 0,
  disconnects: 0,
  lastDisconnect: '',
  /** Dropped connections the session resumed from, and whether one is being resumed now. */
  resumes: 0,
  resuming: false,
  sent: 0,
  processed: 0,
  lost: 0,
  lastSentAt: 0,
  x: 0,
  y: 0,
  snapshots: 0,
};
(globalThis as unknown as { batonDemo: typeof state }).batonDemo = state;

/** The page's WebSocket connections, newest last (the test closes the current one to drop it). */
const sockets: WebSocket[] = [];
class TrackedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    sockets.push(this);
    if (sockets.length > 4) sockets.shift();
  }
}
/** Drops the connection as a network would: the session is to resume on a new one. */
(globalThis as unknown as { batonDropConnection: () => void }).batonDropConnection = () =>
  sockets.at(-1)?.close();

const $ = (id: string) => document.getElementById(id)!;
const canvas = $('world') as HTMLCanvasElement;
const g = canvas.getContext('2d')!;
let snapshot: DemoSnapshot | undefined;
/** Migrations being drawn: each fades out over a second and a half. */
const flashes: { event: DemoMigrationEvent; at: number }[] = [];

const colourOf = (backend: string) => {
  const i = snapshot?.backends.findIndex((b) => b.id === backend) ?? -1;
  return i < 0 ? '#888' : COLOURS[i % COLOURS.length];
};
const toCanvas = (x: number, y: number) => ({
  cx: ((x + WORLD.halfWidth) / (2 * WORLD.halfWidth)) * canvas.width,
  cy: ((y + WORLD.halfHeight) / (2 * WORLD.halfHeight)) * canvas.height,
});

function log(line: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${line}`;
  const list = $('log');
  list.prepend(li);
  while (list.childElementCount > 12) list.lastElementChild!.remove();
}

function draw(now: number): void {
  requestAnimationFrame(draw);
  const s = snapshot;
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!s) return;
  const n = s.backends.length;
  s.backends.forEach((b, i) => {
    const { left, right } = regionBounds(i, n);
    const a = toCanvas(left, -WORLD.halfHeight);
    const z = toCanvas(right, WORLD.halfHeight);
    g.fillStyle = `${COLOURS[i % COLOURS.length]}22`;
    g.fillRect(a.cx, a.cy, z.cx - a.cx, z.cy - a.cy);
    g.fillStyle = COLOURS[i % COLOURS.length];
    g.font = '15px system-ui, sans-serif';
    g.fillText(`${b.id} · ${b.players} player${b.players === 1 ? '' : 's'}`, a.cx + 10, 22);
    if (i > 0) {
      g.strokeStyle = '#ffffff33';
      g.setLineDash([6, 6]);
      g.beginPath();
      g.moveTo(a.cx, 0);
      g.lineTo(a.cx, canvas.height);
      g.stroke();
      g.setLineDash([]);
    }
  });
  for (const p of s.players) {
    const { cx, cy } = toCanvas(p.x, p.y);
    const mine = p.name === state.name;
    g.fillStyle = colourOf(p.backend);
    g.beginPath();
    g.arc(cx, cy, mine ? 9 : 6, 0, Math.PI * 2);
    g.fill();
    if (mine || p.migrating) {
      g.strokeStyle = mine ? '#ffffff' : '#ffffffaa';
      g.lineWidth = 2;
      g.stroke();
    }
    if (p.visitor) {
      g.fillStyle = '#d8dde3';
      g.font = '12px system-ui, sans-serif';
      g.fillText(mine ? 'you' : p.name, cx + 12, cy + 4);
    }
  }
  // each migration: a ring in the new backend's colour, an arrow from the region it left
  for (let i = flashes.length - 1; i >= 0; i--) {
    const { event, at } = flashes[i];
    const age = (now - at) / 1500;
    if (age >= 1) {
      flashes.splice(i, 1);
      continue;
    }
    const p = s.players.find((q) => q.name === event.name);
    if (!p) continue;
    const { cx, cy } = toCanvas(p.x, p.y);
    const from = s.backends.findIndex((b) => b.id === event.from);
    const { left, right } = regionBounds(Math.max(0, from), n);
    const origin = toCanvas((left + right) / 2, p.y);
    g.globalAlpha = 1 - age;
    g.strokeStyle = event.ok ? colourOf(event.to) : '#ff7b72';
    g.lineWidth = 2;
    g.beginPath();
    g.arc(cx, cy, 8 + 30 * age, 0, Math.PI * 2);
    g.stroke();
    g.beginPath();
    g.moveTo(origin.cx, origin.cy);
    g.lineTo(cx, cy);
    g.stroke();
    g.globalAlpha = 1;
  }
}

function showCounters(): void {
  const s = snapshot;
  if (s) {
    $('c-players').textContent = s.backends.map((b) => `${b.id} ${b.players}`).join(' · ');
    $('c-migrations').textContent = `${s.migrations.completed} (${s.migrations.failed})`;
    $('c-freeze').textContent =
      `${s.migrations.freezeP50.toFixed(1)} / ${s.migrations.freezeP99.toFixed(1)} ms`;
    $('c-bots').textContent = `${s.bots.sent} / ${s.bots.processed}`;
  }
  $('c-you-state').textContent = state.resuming
    ? 'connection dropped: resuming'
    : state.connected
      ? 'connected'
      : state.disconnects > 0
        ? `disconnected: ${state.lastDisconnect}`
        : 'connecting';
  $('c-you-backend').textContent = state.backend || '–';
  $('c-you-migrations').textContent = String(state.migrations);
  $('c-you-inputs').textContent = `${state.sent} / ${state.processed}`;
  const lost = $('c-you-lost');
  lost.textContent = String(state.lost);
  lost.className = state.lost === 0 ? 'ok' : 'bad';
  $('c-you-disconnects').textContent = String(state.disconnects);
  $('c-you-resumes').textContent = String(state.resumes);
}

function onSnapshot(s: DemoSnapshot): void {
  snapshot = s;
  state.snapshots++;
  const me = s.players.find((p) => p.name === state.name);
  if (me) {
    state.x = me.x;
    state.y = me.y;
    state.backend = me.backend;
  }
  state.processed = s.visitors[state.uuid] ?? state.processed;
  const settled = performance.now() - state.lastSentAt >= SETTLE_MS;
  // more processed than sent would be an input processed twice: also shown as a loss of truth
  state.lost = settled || state.processed > state.sent ? Math.abs(state.sent - state.processed) : 0;
  for (const e of s.events) {
    flashes.push({ event: e, at: performance.now() });
    log(
      e.ok
        ? `${e.name}: ${e.from} → ${e.to}, input frozen ${e.freezeMs?.toFixed(1)} ms`
        : `${e.name}: ${e.from} → ${e.to} failed: ${e.reason}`,
    );
  }
  showCounters();
}

const held = new Set<string>();
const KEYS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};
addEventListener('keydown', (e) => {
  if (!(e.key in KEYS)) return;
  held.add(e.key);
  e.preventDefault();
});
addEventListener('keyup', (e) => held.delete(e.key));
addEventListener('blur', () => held.clear());

async function play(): Promise<void> {
  const url = document.querySelector<HTMLMetaElement>('meta[name="baton-player-url"]')!.content;
  const client = new Client(protocol, { resumeWindowMs: RESUME_WINDOW_MS });
  client.on('resuming', (reason) => {
    state.resuming = true;
    log(`connection dropped (${reason}): resuming`);
    showCounters();
  });
  client.on('resumed', () => {
    state.resuming = false;
    state.resumes++;
    log('session resumed: nothing lost');
    showCounters();
  });
  client.on('migrated', (m) => {
    state.migrations++;
    state.backend = m.backendId;
  });
  client.on('disconnect', (reason) => {
    state.connected = false;
    state.disconnects++;
    state.lastDisconnect = reason;
    showCounters();
  });
  await client.connect(
    browserWebSocketClient(url, { WebSocket: TrackedWebSocket as unknown as WebSocketConstructor }),
    {
      username: state.name,
      uuid: state.uuid,
    },
  );
  state.connected = true;
  showCounters();
  setInterval(() => {
    if (!state.connected || held.size === 0) return;
    let dx = 0;
    let dy = 0;
    for (const k of held) {
      dx += KEYS[k][0] * STEP;
      dy += KEYS[k][1] * STEP;
    }
    // stay inside the map (the position is the last snapshot's: a step or two behind)
    if (Math.abs(state.x + dx) > WORLD.halfWidth - 2) dx = 0;
    if (Math.abs(state.y + dy) > WORLD.halfHeight - 2) dy = 0;
    if (dx === 0 && dy === 0) return;
    state.sent++;
    state.lastSentAt = performance.now();
    client.send('input', Input, { seq: state.sent, dx, dy });
  }, protocol.tickIntervalMs);
}

new EventSource('/events').onmessage = (e) => onSnapshot(JSON.parse(e.data) as DemoSnapshot);
requestAnimationFrame(draw);
play().catch((error) => {
  state.lastDisconnect = String(error);
  state.disconnects++;
  showCounters();
});
