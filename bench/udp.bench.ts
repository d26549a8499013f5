/**
 * UDP echo on 127.0.0.1: round-trip latency (p50/p99) and echo throughput.
 *
 * The raw `node:dgram` echo is the reference every other row here is compared with. Beside it:
 * baton's UDP transport (layer 1, `udpServer`/`udpClient`) and a baton link connection over UDP
 * (layer 2) on an ordered-reliable and on an unreliable channel: see
 * {@link createLinkOverUdpEchoPair}.
 *
 * Everything opened here is closed before `run` returns, so the process exits by itself.
 */
import dgram from 'node:dgram';
import { type ChannelMode, LinkConnection } from '../src/link/index.js';
import { DecodeError } from '../src/serde/DecodeError.js';
import { udpClient, udpServer } from '../src/transport/index.js';
import type { DatagramClientSocket, PeerId } from '../src/transport/types.js';
import { systemClock } from '../src/util/Clock.js';
import { type BenchContext, type BenchModule, type BenchRow, median, percentile, row } from './harness.js';

/**
 * A client and an echo server, however they are built. The measurement code only needs this,
 * so raw dgram, baton's transport and a baton link are timed by the very same loops.
 */
export interface EchoPair {
  readonly label: string;
  /** Send one message client → server; the server sends it back. */
  send(data: Uint8Array): void;
  /** Set by the measurement: called for every echo that arrives back at the client. */
  onReply: (data: Uint8Array) => void;
  /** Close both ends (and everything they opened). */
  close(): Promise<void>;
  /**
   * Nothing sent is lost for good (the pair resends by itself): the throughput test then never
   * refills a stalled window, which would only widen it.
   */
  readonly reliable?: boolean;
  /**
   * Resolves true once everything sent so far was delivered and acknowledged on both ends, or
   * false after `timeoutMs`. Pairs that have it are timed until it resolves, not just until the
   * sender stops, so only delivered messages count.
   */
  settle?(timeoutMs: number): Promise<boolean>;
}

const HOST = '127.0.0.1';
const LATENCY_PAYLOAD = 32;
const THROUGHPUT_PAYLOAD = 1200; // a typical link MTU payload
/** Link rows: a 1200-byte message does not fit one link packet at the default MTU (1188 max unreliable). */
const LINK_THROUGHPUT_PAYLOAD = 1024;
const WINDOW = 32; // datagrams in flight during the throughput test
const REPLY_TIMEOUT_MS = 200;
/** Bound on waiting for a reliable pair to deliver everything after a throughput trial. */
const SETTLE_TIMEOUT_MS = 5000;

function bindDgram(socket: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function closeDgram(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** The reference: a bare `node:dgram` echo server and a connected client socket. */
export async function createRawDgramEchoPair(): Promise<EchoPair> {
  const server = dgram.createSocket('udp4');
  // a failed send (e.g. ENOBUFS under load) is a lost datagram, not a crash
  server.on('error', () => {});
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await bindDgram(server, 0);
  const client = dgram.createSocket('udp4');
  client.on('error', () => {});
  await bindDgram(client, 0);
  await new Promise<void>((resolve) => client.connect(server.address().port, HOST, () => resolve()));
  const pair: EchoPair = {
    label: 'node:dgram',
    send: (data) => client.send(data),
    onReply: () => {},
    close: async () => {
      await Promise.all([closeDgram(client), closeDgram(server)]);
    },
  };
  client.on('message', (msg) => pair.onReply(msg));
  return pair;
}

/** baton's UDP transport: an echo on `udpServer` and a `udpClient`. */
export async function createTransportUdpEchoPair(): Promise<EchoPair> {
  const server = await udpServer({ port: 0 }).listen();
  server.onDatagram = (peer, data) => server.send(peer, data);
  const client = await udpClient(server.address).connect();
  const pair: EchoPair = {
    label: 'baton transport udp',
    send: (data) => client.send(data),
    onReply: () => {},
    close: async () => {
      await client.close();
      await server.close();
    },
  };
  client.onDatagram = (data) => pair.onReply(data);
  return pair;
}

/**
 * Bandwidth budget of the bench's link connections, bytes/s: far above what loopback carries,
 * so the token bucket never paces the echo and the rows show the link's own cost. The default
 * budget (1 MiB/s) would cap 1 KB throughput near 1,000 msgs/s. Named in the link rows
 * (`.bw1G`) because it is not the default.
 */
export const LINK_BENCH_BANDWIDTH = 1e9;
const LINK_BANDWIDTH_TAG = '.bw1G';
/** Period of the link pair's background tick (resends, acks), ms. Sends flush at once anyway. */
const LINK_TICK_MS = 1;
/** Idle ticks (nothing reliable outstanding) before the background tick stops itself. */
const LINK_IDLE_TICKS = 5;

/** The channel modes the link rows measure. */
export type LinkEchoMode = Extract<ChannelMode, 'ordered-reliable' | 'unreliable'>;

/**
 * Flushes both ends of a link pair every {@link LINK_TICK_MS} while there is work, like a game
 * loop's tick: it carries resends and acks that no send piggybacks. It stops itself once both
 * ends are idle and restarts on the next send, so it does not run (and add timer noise) while
 * other pairs are being measured.
 */
class FlushTicker {
  private timer: ReturnType<typeof setInterval> | undefined;
  private idle = 0;

  /** `tick` flushes and returns whether anything reliable is still outstanding. */
  constructor(private readonly tick: () => boolean) {}

  poke(): void {
    this.idle = 0;
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (this.tick()) this.idle = 0;
      else if (++this.idle >= LINK_IDLE_TICKS) this.stop();
    }, LINK_TICK_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Feeds a packet to a link; a malformed one is counted by the link (`packetsDropped`), not fatal. */
function receiveQuietly(link: LinkConnection, packet: Uint8Array): void {
  try {
    link.receive(packet);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

/**
 * The baton-link-over-UDP rows: a client `LinkConnection` over `udpClient` and a server
 * `LinkConnection` over `udpServer({ port: 0 })` on 127.0.0.1, one channel of `mode`. The server
 * sends every message back on the same channel. Both ends flush right after they send (the
 * client after each `send`, the server after each received packet), like a game that flushes per
 * tick; a background tick ({@link FlushTicker}) carries resends and lone acks. Bandwidth budget:
 * {@link LINK_BENCH_BANDWIDTH}. `settle` resolves once everything sent was delivered and
 * acknowledged on both ends (nothing reliable outstanding).
 */
export async function createLinkOverUdpEchoPair(mode: LinkEchoMode = 'ordered-reliable'): Promise<EchoPair> {
  const channels = [{ mode }];
  const options = { bandwidthBytesPerSecond: LINK_BENCH_BANDWIDTH };
  const serverSocket = await udpServer({ host: HOST, port: 0 }).listen();
  let peer: PeerId | undefined;
  const server = new LinkConnection({
    channels,
    role: 'server',
    clock: systemClock,
    options,
    send: (packet) => {
      if (peer !== undefined) serverSocket.send(peer, packet);
    },
  });
  let clientSocket: DatagramClientSocket;
  try {
    clientSocket = await udpClient(serverSocket.address).connect();
  } catch (error) {
    await serverSocket.close();
    throw error;
  }
  const client = new LinkConnection({
    channels,
    role: 'client',
    clock: systemClock,
    options,
    send: (packet) => clientSocket.send(packet),
  });
  const ticker = new FlushTicker(() => {
    client.flush();
    server.flush();
    return client.pendingBytes > 0 || server.pendingBytes > 0;
  });

  server.onMessage = (channel, payload) => server.send(channel, payload);
  serverSocket.onDatagram = (from, data) => {
    peer ??= from; // the bench has exactly one client
    if (from !== peer) return;
    receiveQuietly(server, data);
    server.flush(); // the echoes queued while receiving go out now
    ticker.poke();
  };
  const pair: EchoPair = {
    label: `baton link ${mode}`,
    reliable: mode !== 'unreliable',
    send: (data) => {
      client.send(0, data);
      client.flush();
      ticker.poke();
    },
    onReply: () => {},
    settle: async (timeoutMs) => {
      const end = performance.now() + timeoutMs;
      while (client.pendingBytes > 0 || server.pendingBytes > 0) {
        if (performance.now() > end) return false;
        ticker.poke();
        await sleep(LINK_TICK_MS);
      }
      return true;
    },
    close: async () => {
      ticker.stop();
      await clientSocket.close();
      await serverSocket.close();
    },
  };
  client.onMessage = (_channel, payload) => pair.onReply(payload);
  clientSocket.onDatagram = (data) => receiveQuietly(client, data);
  return pair;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const seqOf = (data: Uint8Array) =>
  data.byteLength >= 4 ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) : -1;

/**
 * Resolves with the reply carrying `seq`, or undefined after `timeoutMs` (a lost datagram).
 * Matching the sequence number keeps a late echo of an earlier ping from passing for this one.
 */
function nextReply(pair: EchoPair, seq: number, timeoutMs: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pair.onReply = () => {};
      resolve(undefined);
    }, timeoutMs);
    pair.onReply = (data) => {
      if (seqOf(data) !== seq) return;
      clearTimeout(timer);
      pair.onReply = () => {};
      resolve(data);
    };
  });
}

/** One latency trial: `count` sequential round trips; returns RTTs in µs (lost ones left out). */
async function latencyTrial(pair: EchoPair, count: number): Promise<number[]> {
  const rtts: number[] = [];
  for (let i = 0; i < count; i++) {
    // a fresh buffer per ping: a transport may hold on to the one it was given
    const payload = new Uint8Array(LATENCY_PAYLOAD);
    new DataView(payload.buffer).setUint32(0, i, true);
    const start = performance.now();
    const reply = nextReply(pair, i, REPLY_TIMEOUT_MS);
    pair.send(payload);
    if ((await reply) !== undefined) rtts.push((performance.now() - start) * 1000);
  }
  return rtts;
}

/**
 * One throughput trial: keep WINDOW messages of `size` bytes in flight for `ms`; returns echoes
 * per second. Loopback can still drop under load; for an unreliable pair a stalled window is
 * refilled so a loss cannot end the test. A pair with `settle` is timed until everything it was
 * sent has come back and been acknowledged, and the echoes counted are all of them.
 */
async function throughputTrial(pair: EchoPair, size: number, ms: number): Promise<number> {
  const payload = new Uint8Array(size).fill(9);
  const start = performance.now();
  let sent = 0;
  let received = 0;
  let inFlight = 0;
  let lastReply = start;
  let sending = true;
  const fill = () => {
    while (sending && inFlight < WINDOW) {
      inFlight++;
      sent++;
      pair.send(payload);
    }
  };
  pair.onReply = () => {
    received++;
    inFlight--;
    lastReply = performance.now();
    fill();
  };
  const watchdog = pair.reliable
    ? undefined
    : setInterval(() => {
        if (performance.now() - lastReply > 20) {
          inFlight = 0; // whatever is still out is lost
          fill();
        }
      }, 10);
  fill();
  await sleep(ms);
  sending = false;
  if (watchdog !== undefined) clearInterval(watchdog);
  let counted = received;
  let elapsed = (performance.now() - start) / 1000;
  if (pair.settle) {
    if (!(await pair.settle(SETTLE_TIMEOUT_MS))) {
      throw new Error(`${pair.label}: not everything was acknowledged within ${SETTLE_TIMEOUT_MS} ms`);
    }
    elapsed = (performance.now() - start) / 1000;
    counted = received;
    if (pair.reliable && counted !== sent) {
      throw new Error(`${pair.label}: ${sent} messages sent but ${counted} echoes delivered`);
    }
  } else {
    // let stragglers arrive and be ignored before the next trial starts
    await sleep(20);
  }
  pair.onReply = () => {};
  return counted / elapsed;
}

/** One pair to measure: latency always, throughput at each of `sizes`. */
interface Subject {
  /** Row name prefix, e.g. `udp.link.ordered`. */
  prefix: string;
  pair: EchoPair;
  /** Payload sizes of its throughput trials. */
  sizes: readonly number[];
  /** Inserted into its throughput row names (e.g. the link's bandwidth budget). */
  tag?: string;
}

interface EchoFigures {
  p50: number;
  p99: number;
  /** Echoes per second, by payload size. */
  msgsPerSec: Map<number, number>;
}

/** Trials of every subject, interleaved subject by subject, each figure the median over trials. */
async function measure(ctx: BenchContext, subjects: readonly Subject[]): Promise<EchoFigures[]> {
  const count = ctx.quick ? 300 : 2000;
  const p50s: number[][] = subjects.map(() => []);
  const p99s: number[][] = subjects.map(() => []);
  const rates: Map<number, number[]>[] = subjects.map((s) => new Map(s.sizes.map((n) => [n, []])));
  for (const { pair, sizes } of subjects) {
    await latencyTrial(pair, Math.ceil(count / 4)); // warm-up
    for (const size of sizes) await throughputTrial(pair, size, ctx.warmupMs);
  }
  for (let trial = 0; trial < ctx.trials; trial++) {
    for (let i = 0; i < subjects.length; i++) {
      const { pair, sizes } = subjects[i];
      const rtts = await latencyTrial(pair, count);
      if (rtts.length > 0) {
        p50s[i].push(percentile(rtts, 50));
        p99s[i].push(percentile(rtts, 99));
      }
      for (const size of sizes) rates[i].get(size)?.push(await throughputTrial(pair, size, ctx.trialMs * 2));
    }
  }
  const med = (xs: number[] | undefined) => (xs && xs.length > 0 ? median(xs) : Number.NaN);
  return subjects.map((s, i) => ({
    p50: med(p50s[i]),
    p99: med(p99s[i]),
    msgsPerSec: new Map(s.sizes.map((n) => [n, med(rates[i].get(n))])),
  }));
}

function rowsFor(s: Subject, f: EchoFigures, ref?: { label: string; f: EchoFigures }): BenchRow[] {
  const base = (value: number | undefined) =>
    ref && value !== undefined ? { name: ref.label, value } : undefined;
  const rows = [
    row(`${s.prefix}.rtt.p50`, f.p50, 'µs', base(ref?.f.p50)),
    row(`${s.prefix}.rtt.p99`, f.p99, 'µs', base(ref?.f.p99)),
  ];
  for (const size of s.sizes) {
    const rate = f.msgsPerSec.get(size) ?? Number.NaN;
    const refRate = ref?.f.msgsPerSec.get(size);
    const mbps = (x: number) => (x * size) / 1e6;
    const name = `${s.prefix}.echo.${size}B${s.tag ?? ''}`;
    rows.push(
      row(`${name}.msgs`, rate, 'msgs/s', base(refRate)),
      row(`${name}.MBps`, mbps(rate), 'MB/s', base(refRate === undefined ? undefined : mbps(refRate))),
    );
  }
  return rows;
}

export const udpBench: BenchModule = {
  name: 'udp',
  async run(ctx) {
    const subjects: Subject[] = [];
    try {
      // the reference, at the transport rows' size and at the link rows' size
      subjects.push({
        prefix: 'udp.raw',
        pair: await createRawDgramEchoPair(),
        sizes: [THROUGHPUT_PAYLOAD, LINK_THROUGHPUT_PAYLOAD],
      });
      subjects.push({
        prefix: 'udp.transport',
        pair: await createTransportUdpEchoPair(),
        sizes: [THROUGHPUT_PAYLOAD],
      });
      for (const [mode, short] of [
        ['ordered-reliable', 'ordered'],
        ['unreliable', 'unreliable'],
      ] as const) {
        subjects.push({
          prefix: `udp.link.${short}`,
          pair: await createLinkOverUdpEchoPair(mode),
          sizes: [LINK_THROUGHPUT_PAYLOAD],
          tag: LINK_BANDWIDTH_TAG,
        });
      }

      ctx.log(
        `udp: echo on ${HOST}, ${LATENCY_PAYLOAD} B ping-pong and ${THROUGHPUT_PAYLOAD} B / ` +
          `${LINK_THROUGHPUT_PAYLOAD} B × ${WINDOW} in flight; link rows: bandwidth budget ` +
          `${LINK_BENCH_BANDWIDTH / 1e9} GB/s, ordered-reliable timed until all acknowledged`,
      );
      const figures = await measure(ctx, subjects);
      const ref = { label: subjects[0].pair.label, f: figures[0] };
      return subjects.flatMap((s, i) => rowsFor(s, figures[i], i === 0 ? undefined : ref));
    } finally {
      await Promise.all(subjects.map((s) => s.pair.close()));
    }
  },
};
