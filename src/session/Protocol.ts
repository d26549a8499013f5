import {
  BitReader,
  BitWriter,
  type ComponentDef,
  DecodeError,
  type Infer,
  type MessageDef,
  type Schema,
} from '../serde/index.js';
import { fnv1a64 } from './hash.js';

/**
 * Delivery modes a protocol channel can use (the link layer implements them). Kept as a local
 * string union, structurally identical to the link layer's `ChannelMode`, so a protocol can be
 * declared with nothing but serde in scope.
 */
export type ChannelMode =
  | 'unreliable'
  | 'sequenced-unreliable'
  | 'unordered-reliable'
  | 'ordered-reliable'
  | 'sequenced-reliable'
  | 'tick-buffered';

/** Who may send on a channel. */
export type ChannelDirection = 'both' | 'client-to-server' | 'server-to-client';

/** How a protocol declares one channel. */
export interface ChannelSpec {
  readonly mode: ChannelMode;
  /** Default `'both'`; `'client-to-server'` for (and required by) tick-buffered channels. */
  readonly direction?: ChannelDirection;
  /** Sender-side scheduling weight (higher first). Not part of the protocol hash: it never changes bytes. */
  readonly priority?: number;
}

/** What {@link defineProtocol} takes. */
export interface ProtocolConfig<C extends Record<string, ChannelSpec>> {
  /** Simulation ticks per second (1..1000). */
  readonly tickRate: number;
  readonly components?: readonly ComponentDef<any>[];
  readonly messages: readonly MessageDef<any>[];
  readonly channels: C;
  /** Whether clients may spawn and publish their own entities (world layer). */
  readonly clientAuthoritativeEntities?: boolean;
}

/** One resolved protocol channel. */
export interface ChannelInfo<N extends string = string> {
  readonly name: N;
  /** Index in the protocol's channel list (what `SessionPipe.sendMessage` takes). */
  readonly index: number;
  /** Index on the link: protocol channels start after the session's reserved channels. */
  readonly linkChannel: number;
  readonly mode: ChannelMode;
  readonly direction: ChannelDirection;
  readonly priority: number;
}

/** A decoded application message. */
export interface DecodedMessage {
  readonly def: MessageDef<any>;
  readonly kind: number;
  readonly value: unknown;
}

/** Link channel 0: session control (handshake, setup, disconnect), ordered-reliable. */
export const CONTROL_CHANNEL = 0;
/** Link channel 1: world frames, unreliable (the world layer acknowledges its own frames). */
export const WORLD_CHANNEL = 1;
/** Link channel of protocol channel 0. */
export const FIRST_PROTOCOL_CHANNEL = 2;
/**
 * Most protocol channels a protocol may declare. Conservative so that it fits whatever channel
 * id width the link uses (the link reserves nothing above this).
 */
export const MAX_PROTOCOL_CHANNELS = 30;
/** Version of the session layer's own wire format; part of the protocol hash. */
export const SESSION_WIRE_VERSION = 1;

const MODES: readonly ChannelMode[] = [
  'unreliable',
  'sequenced-unreliable',
  'unordered-reliable',
  'ordered-reliable',
  'sequenced-reliable',
  'tick-buffered',
];
const DIRECTIONS: readonly ChannelDirection[] = ['both', 'client-to-server', 'server-to-client'];

/**
 * A protocol: the components, messages and channels both peers must agree on, with indexed
 * lookup and a 64-bit hash that the handshake compares. Pure data; shared by server and
 * client code, browser-safe.
 */
export class Protocol<C extends string = string> {
  readonly tickRate: number;
  readonly tickIntervalMs: number;
  readonly components: readonly ComponentDef<any>[];
  readonly messages: readonly MessageDef<any>[];
  readonly channels: readonly ChannelInfo<C>[];
  readonly clientAuthoritativeEntities: boolean;
  /** The canonical description the hash is computed over (useful when two builds disagree). */
  readonly description: string;
  /** FNV-1a 64 of {@link description}. */
  readonly hash: bigint;
  private readonly channelsByName = new Map<string, ChannelInfo<C>>();
  private readonly kindByMessage = new Map<MessageDef<any>, number>();
  private readonly kindByName = new Map<string, number>();

  constructor(config: ProtocolConfig<Record<C, ChannelSpec>>) {
    const { tickRate } = config;
    if (!Number.isInteger(tickRate) || tickRate < 1 || tickRate > 1000) {
      throw new Error(`defineProtocol: tickRate must be an integer in 1..1000, got ${tickRate}`);
    }
    this.tickRate = tickRate;
    this.tickIntervalMs = 1000 / tickRate;
    this.components = [...(config.components ?? [])];
    this.messages = [...config.messages];
    this.clientAuthoritativeEntities = config.clientAuthoritativeEntities ?? false;
    uniqueNames('component', this.components);
    uniqueNames('message', this.messages);
    this.messages.forEach((m, i) => {
      if (m.kind !== 'message') throw new Error(`defineProtocol: '${m.name}' is not a message`);
      this.kindByMessage.set(m, i);
      this.kindByName.set(m.name, i);
    });
    for (const c of this.components) {
      if (c.kind !== 'component') throw new Error(`defineProtocol: '${c.name}' is not a component`);
    }

    const names = Object.keys(config.channels) as C[];
    if (names.length > MAX_PROTOCOL_CHANNELS) {
      throw new Error(`defineProtocol: at most ${MAX_PROTOCOL_CHANNELS} channels`);
    }
    this.channels = names.map((name, index) => {
      const spec = config.channels[name];
      if (!name) throw new Error('defineProtocol: empty channel name');
      if (!MODES.includes(spec.mode)) throw new Error(`defineProtocol: channel '${name}': unknown mode`);
      const direction = spec.direction ?? (spec.mode === 'tick-buffered' ? 'client-to-server' : 'both');
      if (!DIRECTIONS.includes(direction))
        throw new Error(`defineProtocol: channel '${name}': bad direction`);
      if (spec.mode === 'tick-buffered' && direction !== 'client-to-server') {
        throw new Error(`defineProtocol: tick-buffered channel '${name}' must be client-to-server`);
      }
      const info: ChannelInfo<C> = {
        name,
        index,
        linkChannel: FIRST_PROTOCOL_CHANNEL + index,
        mode: spec.mode,
        direction,
        priority: spec.priority ?? 0,
      };
      this.channelsByName.set(name, info);
      return info;
    });

    // JSON of arrays: canonical (ordered), and names cannot collide with separators.
    this.description = JSON.stringify([
      'baton-session',
      SESSION_WIRE_VERSION,
      tickRate,
      this.clientAuthoritativeEntities,
      this.components.map((c) => [c.name, c.codec.id]),
      this.messages.map((m) => [m.name, m.codec.id]),
      this.channels.map((c) => [c.name, c.mode, c.direction]),
    ]);
    this.hash = fnv1a64(new TextEncoder().encode(this.description));
  }

  /** The hash as 16 lowercase hex digits. */
  get hashHex(): string {
    return this.hash.toString(16).padStart(16, '0');
  }

  /** A channel by name; throws for a name the protocol does not declare (a programming error). */
  channel(name: C): ChannelInfo<C> {
    const info = this.channelsByName.get(name);
    if (!info) throw new Error(`unknown channel '${name}'`);
    return info;
  }

  /** A channel by protocol index, or undefined. */
  channelAt(index: number): ChannelInfo<C> | undefined {
    return this.channels[index];
  }

  /** The wire kind id of a registered message; throws for an unregistered one. */
  messageKind(def: MessageDef<any>): number {
    const kind = this.kindByMessage.get(def) ?? this.kindByName.get(def.name);
    if (kind === undefined || this.messages[kind].codec.id !== def.codec.id) {
      throw new Error(`message '${def.name}' is not registered in this protocol`);
    }
    return kind;
  }

  /** Encode a message for a channel: varuint kind id, then the schema's fields, byte-padded. */
  encodeMessage<S extends Schema>(def: MessageDef<S>, value: Infer<S>): Uint8Array {
    const w = new BitWriter(64);
    w.writeVarUint(this.messageKind(def));
    def.codec.write(w, value);
    return w.finish();
  }

  /** Decode what {@link encodeMessage} wrote. Throws {@link DecodeError} on anything malformed. */
  decodeMessage(bytes: Uint8Array): DecodedMessage {
    const r = new BitReader(bytes);
    const kind = r.readVarUint();
    const def = this.messages[kind];
    if (!def) throw new DecodeError('out-of-range', `unknown message kind ${kind}`);
    const value = def.codec.read(r);
    r.expectEnd();
    return { def, kind, value };
  }
}

/**
 * Declare a protocol.
 *
 * ```ts
 * const protocol = defineProtocol({
 *   tickRate: 20, messages: [Chat, Input],
 *   channels: { chat: { mode: 'ordered-reliable' }, input: { mode: 'tick-buffered' } },
 * });
 * ```
 */
export function defineProtocol<const C extends Record<string, ChannelSpec>>(
  config: ProtocolConfig<C>,
): Protocol<keyof C & string> {
  return new Protocol<keyof C & string>(config as ProtocolConfig<Record<keyof C & string, ChannelSpec>>);
}

function uniqueNames(what: string, defs: readonly { name: string }[]): void {
  const seen = new Set<string>();
  for (const d of defs) {
    if (seen.has(d.name)) throw new Error(`defineProtocol: duplicate ${what} '${d.name}'`);
    seen.add(d.name);
  }
}
