import type { Infer, MessageDef, Schema } from '../serde/index.js';
import {
  type AcceptInfo,
  ClientSession,
  type ClientSessionStats,
  type ServerProof,
} from '../session/ClientSession.js';
import { defaultLinkFactory } from '../session/defaultLink.js';
import type { LinkFactory, SessionLinkOptions } from '../session/linkTypes.js';
import type { Protocol } from '../session/Protocol.js';
import type { AuthGrantPacket, JoinWorldPacket, ServerInfoPacket } from '../session/packets/types.js';
import { randomUuid } from '../session/packets/uuid.js';
import { Ticker } from '../session/Ticker.js';
import type { DatagramClientTransport } from '../transport/types.js';
import { type Clock, systemClock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';

/** Options of {@link Client}. */
export interface ClientOptions {
  /** Time source (default: real time). */
  clock?: Clock;
  /**
   * Run the built-in ticker at the protocol's tick rate from `connect()`. Default: true with
   * the real clock, false when a `clock` is given (tests then call `step()`).
   */
  autoStep?: boolean;
  /** Link implementation; must match the server's (tests). */
  linkFactory?: LinkFactory;
  /** Link tuning; MTU and message bounds must match the server's. */
  link?: SessionLinkOptions;
  /** Whole handshake deadline (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Connect resend interval until the server answers (default 250 ms). */
  connectRetryMs?: number;
  /** Check the server's answer to our grant (mutual auth). `true` accepts; a string fails the connect. */
  verifyServer?: (proof: ServerProof) => true | string;
  /** Turn the server's grant into our access token (default: echo it). */
  redeemGrant?: (grant: AuthGrantPacket) => Uint8Array;
  /** Answer JoinWorld with ClientReady at once (default true). */
  autoReady?: boolean;
  /** Extra ticks the client runs ahead of its server-tick estimate for tick-buffered input (default 2). */
  tickLeadTicks?: number;
}

/** What `connect()` takes besides the transport. */
export interface ConnectOptions {
  /** Canonical UUID; default: a random v4. */
  uuid?: string;
  username: string;
  identityToken?: Uint8Array;
  referralData?: Uint8Array;
  clientType?: string;
  language?: string;
}

/** Events of {@link Client}. */
export type ClientEvents<C extends string> = {
  connect: (info: AcceptInfo) => void;
  /** The session ended: the server's reason, 'timed out', 'client closed', … */
  disconnect: (reason: string) => void;
  message: (channel: C, def: MessageDef<any>, value: unknown) => void;
  joinWorld: (join: Omit<JoinWorldPacket, 'type'>) => void;
  /** The server sends us elsewhere (a disconnect follows). */
  referral: (to: { host: string; port: number; data: Uint8Array }) => void;
  serverInfo: (info: Omit<ServerInfoPacket, 'type'>) => void;
  worldSettings: (data: Uint8Array) => void;
  error: (error: unknown) => void;
};

/** Counters of the client. */
export interface ClientStats extends ClientSessionStats {
  messagesIn: number;
  messagesOut: number;
  malformedMessages: number;
}

/**
 * The client API (browser-safe): connects over any datagram transport, runs the session
 * handshake, and exchanges typed messages on the protocol's channels.
 *
 * ```ts
 * const client = new Client(protocol);
 * await client.connect(udpClient(addr), { username: 'ann' });
 * client.send('chat', Chat, { text: 'hi' });
 * ```
 */
export class Client<C extends string = string> extends TypedEmitter<ClientEvents<C>> {
  /**
   * The client tick: seeded at accept to the server tick plus the round trip plus a lead, so
   * tick-buffered input arrives before the server runs that tick; incremented by each `step()`.
   */
  tick = 0;
  /** Client id from SetClientId, once connected. */
  id?: number;
  serverInfo?: Omit<ServerInfoPacket, 'type'>;
  worldSettings?: Uint8Array;
  private readonly session: ClientSession;
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private readonly autoStep: boolean;
  private readonly handlers = new Map<MessageDef<any>, Set<(value: any, channel: C) => void>>();
  private counters = { messagesIn: 0, messagesOut: 0, malformedMessages: 0 };

  constructor(
    readonly protocol: Protocol<C>,
    readonly options: ClientOptions = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.autoStep = options.autoStep ?? options.clock === undefined;
    this.session = new ClientSession({
      protocol,
      clock: this.clock,
      linkFactory: options.linkFactory ?? defaultLinkFactory,
      link: options.link,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      connectRetryMs: options.connectRetryMs,
      verifyServer: options.verifyServer,
      redeemGrant: options.redeemGrant,
      onAccepted: (info) => {
        this.id = info.clientId;
        this.serverInfo = info.serverInfo;
        this.worldSettings = info.worldSettings;
        const rttTicks = Math.ceil(this.session.rttMs / protocol.tickIntervalMs);
        this.tick = info.serverTick + rttTicks + (options.tickLeadTicks ?? 2);
        this.session.pipe!.onMessage = (channel, payload) => this.deliver(channel, payload);
        this.emit('connect', info);
      },
      onControl: (p) => {
        switch (p.type) {
          case 'JoinWorld':
            this.emit('joinWorld', { worldId: p.worldId, clearWorld: p.clearWorld, fade: p.fade });
            if (options.autoReady ?? true) this.ready();
            break;
          case 'ClientReferral':
            this.emit('referral', { host: p.host, port: p.port, data: p.data });
            break;
          case 'ServerInfo':
            this.serverInfo = { name: p.name, motd: p.motd, maxPlayers: p.maxPlayers };
            this.emit('serverInfo', this.serverInfo);
            break;
          case 'WorldSettings':
            this.worldSettings = p.data;
            this.emit('worldSettings', p.data);
            break;
        }
      },
      onClosed: (reason) => {
        this.ticker.stop();
        this.emit('disconnect', reason);
      },
    });
    this.ticker = new Ticker(
      protocol.tickIntervalMs,
      () => this.step(),
      (e) => this.emit('error', e),
    );
  }

  /**
   * Connect and run the handshake. Resolves once the server accepts; rejects with a
   * `ConnectError` (`kind`: 'rejected' with the server's `reason`/`rejectCode`, 'timeout',
   * 'closed', 'server-auth-failed').
   */
  async connect(transport: DatagramClientTransport, options: ConnectOptions): Promise<AcceptInfo> {
    const promise = this.session.connect(transport, {
      uuid: options.uuid ?? randomUuid(),
      username: options.username,
      identityToken: options.identityToken,
      referralData: options.referralData,
      clientType: options.clientType,
      language: options.language,
    });
    if (this.autoStep) this.ticker.start();
    try {
      return await promise;
    } catch (error) {
      this.ticker.stop();
      throw error;
    }
  }

  get connected(): boolean {
    return this.session.state === 'connected';
  }

  /** Round-trip estimate, ms. */
  get rttMs(): number {
    return this.session.rttMs;
  }

  get stats(): ClientStats {
    return { ...this.session.stats, dropped: { ...this.session.stats.dropped }, ...this.counters };
  }

  /** Send a message on a channel; tick-buffered channels are tagged with the current tick. */
  send<S extends Schema>(channel: C, def: MessageDef<S>, value: Infer<S>): void {
    const info = this.protocol.channel(channel);
    if (info.direction === 'server-to-client') throw new Error(`channel '${channel}' is server-to-client`);
    if (!this.connected) throw new Error('not connected');
    const bytes = this.protocol.encodeMessage(def, value);
    this.session.pipe!.sendMessage(info.index, bytes, info.mode === 'tick-buffered' ? this.tick : undefined);
    this.counters.messagesOut++;
  }

  /** Typed handler for one message kind; returns an unsubscribe function. */
  onMessage<S extends Schema>(
    def: MessageDef<S>,
    handler: (value: Infer<S>, channel: C) => void,
  ): () => void {
    this.protocol.messageKind(def);
    let set = this.handlers.get(def);
    if (!set) {
      set = new Set();
      this.handlers.set(def, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Tell the server our interest radius. */
  setViewRadius(radius: number): void {
    this.session.sendControl({ type: 'ViewRadius', radius });
  }

  /** Send opaque player options. */
  setPlayerOptions(data: Uint8Array): void {
    this.session.sendControl({ type: 'PlayerOptions', data });
  }

  /** Answer JoinWorld (automatic unless `autoReady: false`). */
  ready(): void {
    if (this.connected) this.session.sendControl({ type: 'ClientReady' });
  }

  /** One tick: process received datagrams, resend/timeouts, flush. Deterministic with a ManualClock. */
  step(): void {
    const wasConnected = this.connected;
    this.session.step();
    if (wasConnected && this.connected) this.tick++;
  }

  start(): void {
    this.ticker.start();
  }

  stop(): void {
    this.ticker.stop();
  }

  /** Leave: sends Disconnect with `reason`, closes the transport, emits 'disconnect'. */
  async close(reason = 'client closed'): Promise<void> {
    this.ticker.stop();
    await this.session.close(reason);
  }

  private deliver(channel: number, payload: Uint8Array): void {
    let decoded: ReturnType<Protocol['decodeMessage']>;
    try {
      decoded = this.protocol.decodeMessage(payload);
    } catch {
      this.counters.malformedMessages++;
      return;
    }
    this.counters.messagesIn++;
    const name = this.protocol.channels[channel].name;
    const set = this.handlers.get(decoded.def);
    if (set) {
      for (const h of [...set]) {
        try {
          h(decoded.value, name);
        } catch (error) {
          this.onListenerError(error, `onMessage(${decoded.def.name})`);
        }
      }
    }
    this.emit('message', name, decoded.def, decoded.value);
  }
}
