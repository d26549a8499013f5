/**
 * The mux protocol: players multiplexed on one proxy ↔ backend stream (DESIGN §5). Each stream
 * frame (`[u32 length][u32 type][u32 sessionId][payload]`, docs/wire/stream.md) carries one
 * mux message; `sessionId` is the proxy's session id of the player (0 = the link itself).
 * Layouts: docs/wire/mux.md, held by `mux.test.ts`. Browser-safe; decoders throw only
 * {@link DecodeError}.
 */
import { BitReader, BitWriter, DecodeError, EncodeError } from '../serde/index.js';
import { decodeSessionPacket, encodeSessionPacket } from './packets/codec.js';
import { Limits } from './packets/kinds.js';
import type { ConnectPacket, SessionPacket } from './packets/types.js';

/** Mux frame types (the stream frame's `type`). */
export const MuxFrame = {
  /** proxy → backend: a player arrives (captured Connect, vouched identity, auth results). */
  PlayerOpen: 0x01,
  /** backend → proxy: the player is admitted; setup CONTROL frames precede it. */
  PlayerAccept: 0x02,
  /** either way: the player's session on this link ends, with a reason. */
  PlayerClose: 0x03,
  /** either way: one session control packet (setup, world entry, referral, disconnect). */
  Control: 0x04,
  /** either way: one application message on a protocol channel. */
  Message: 0x05,
  /** either way: one world frame, opaque. */
  World: 0x06,
  /** proxy → backend: the client's current round-trip time on its datagram hop. */
  ClientRtt: 0x07,
  /** either way, session 0: heartbeat request; answered with Pong carrying the same payload. */
  Ping: 0x08,
  /** either way, session 0: heartbeat answer. */
  Pong: 0x09,
  /** backend → proxy: the game asks the proxy to move this player to another backend. */
  Transfer: 0x0a,
  /** proxy → source backend: sign a migration ticket for this player to `target` (seamless migration). */
  TicketRequest: 0x0b,
  /** source backend → proxy: the ticket and the handed-off state, or a refusal with a reason. */
  TicketReply: 0x0c,
  /** proxy → target backend: a migrating player arrives (ticket, state, then a PlayerOpen). */
  MigrateOpen: 0x0d,
  /** proxy → source backend: the player's input is frozen; send everything pending, then Handoff. */
  Freeze: 0x0e,
  /** source backend → proxy: the final player state, carried entities, undelivered tick messages. */
  Handoff: 0x0f,
  /** proxy → source backend: the migration was rolled back; the player stays here. */
  Thaw: 0x10,
  /** proxy → target backend: cutover; restore the final state (then the buffered input follows). */
  Restore: 0x11,
  /** proxy → target backend, echoed back: the target has processed everything before it (Sync done). */
  SyncProbe: 0x12,
  /** target backend → proxy: answer to Restore — the carried entities' (source id → target id) pairs. */
  Restored: 0x13,
  /**
   * proxy → target backend: the migration was rolled back (`string(256) reason`). The target
   * undoes its Restore (despawns the carried entities it re-created) and forgets the player.
   */
  MigrateCancel: 0x14,
  /**
   * proxy → backend, session 0, first frame of a link: its fencing epoch and the proxy's
   * heartbeat timeout (`muxLinkHello.ts`); the backend stops applying the link's input before
   * the proxy may have given it up.
   */
  LinkHello: 0x20,
} as const;
export type MuxFrameType = (typeof MuxFrame)[keyof typeof MuxFrame];

/** Largest encoded Connect carried in PlayerOpen. */
export const MUX_MAX_CONNECT_BYTES = 8192;
/** Longest client address string in PlayerOpen. */
export const MUX_MAX_ADDRESS_BYTES = 128;
/** Longest auth result (the proxy Authenticator's serverAccessToken) in PlayerOpen. */
export const MUX_MAX_AUTH_BYTES = Limits.identityTokenBytes;
/** Longest backend id in Transfer. */
export const MUX_MAX_BACKEND_ID_BYTES = 64;
/** Largest handed-off player state (ticket digest input, Handoff, Restore). */
export const MUX_MAX_STATE_BYTES = 65536;
/** Largest migration ticket. */
export const MUX_MAX_TICKET_BYTES = 2048;
/** Most carried entities in Handoff / Restore. */
export const MUX_MAX_CARRIED = 4096;
/** Largest carried-entity state (world-layer bytes) in Handoff / Restore. */
export const MUX_MAX_ENTITY_BYTES = 1 << 20;
/** Most undelivered tick messages returned in one Handoff. */
export const MUX_MAX_HANDOFF_TICK_MESSAGES = 4096;
/** Version byte of PlayerOpen. */
export const MUX_VERSION = 1;

/** What a proxy tells a backend about an arriving player. */
export interface PlayerOpen {
  /** The client's Connect as the proxy received it (the backend takes uuid/username from it). */
  readonly connect: ConnectPacket;
  /** The client's address as the proxy sees it ("udp:127.0.0.1:5000"). */
  readonly clientAddress: string;
  /** The client's RTT on its datagram hop, ms (0 when not yet known). */
  readonly clientRttMs: number;
  /** What the proxy's Authenticator returned (serverAccessToken), empty if nothing. */
  readonly authResult: Uint8Array;
  /** The proxy verified `connect.referralData` as a referral token naming this backend. */
  readonly referralVerified: boolean;
  /** Largest world frame the client's link carries in one piece (the backend must not send larger). */
  readonly maxWorldFrameBytes: number;
}

/** One application message on the mux. `tick` is set for tick-buffered channels (client → server). */
export interface MuxMessage {
  readonly channel: number;
  readonly tick?: number;
  readonly payload: Uint8Array;
}

export function encodePlayerOpen(p: PlayerOpen): Uint8Array {
  const connect = encodeSessionPacket(p.connect);
  const w = new BitWriter(64 + connect.length);
  w.writeU8(MUX_VERSION);
  w.writeBytes(connect, MUX_MAX_CONNECT_BYTES);
  w.writeString(p.clientAddress, MUX_MAX_ADDRESS_BYTES);
  w.writeVarUint(Math.max(0, Math.round(p.clientRttMs)));
  w.writeBytes(p.authResult, MUX_MAX_AUTH_BYTES);
  w.writeU8(p.referralVerified ? 1 : 0);
  w.writeVarUint(p.maxWorldFrameBytes);
  return w.finish();
}

export function decodePlayerOpen(bytes: Uint8Array): PlayerOpen {
  const r = new BitReader(bytes);
  const version = r.readU8();
  if (version !== MUX_VERSION) throw new DecodeError('out-of-range', `mux version ${version}`);
  const connect = decodeSessionPacket(r.readBytes(MUX_MAX_CONNECT_BYTES));
  if (connect.type !== 'Connect') throw new DecodeError('invalid', 'PlayerOpen without a Connect');
  const clientAddress = r.readString(MUX_MAX_ADDRESS_BYTES);
  const clientRttMs = r.readVarUint();
  const authResult = r.readBytes(MUX_MAX_AUTH_BYTES);
  const flags = r.readU8();
  if (flags >> 1 !== 0) throw new DecodeError('invalid', 'reserved flag bits set');
  const maxWorldFrameBytes = r.readVarUint();
  if (maxWorldFrameBytes < 64 || maxWorldFrameBytes > 65536)
    throw new DecodeError('out-of-range', `maxWorldFrameBytes ${maxWorldFrameBytes}`);
  r.expectEnd();
  return {
    connect,
    clientAddress,
    clientRttMs,
    authResult,
    referralVerified: (flags & 1) !== 0,
    maxWorldFrameBytes,
  };
}

/** PlayerAccept: `varuint serverTick` (seeds the client's tick estimate, as in ConnectAccept). */
export function encodePlayerAccept(serverTick: number): Uint8Array {
  const w = new BitWriter(8);
  w.writeVarUint(serverTick);
  return w.finish();
}

export function decodePlayerAccept(bytes: Uint8Array): number {
  const r = new BitReader(bytes);
  const tick = r.readVarUint();
  r.expectEnd();
  return tick;
}

/** PlayerClose / Transfer: one bounded UTF-8 string. */
export function encodeReason(reason: string, max: number = Limits.reasonBytes): Uint8Array {
  const w = new BitWriter(16 + reason.length);
  w.writeString(clampUtf8(reason, max), max);
  return w.finish();
}

export function decodeReason(bytes: Uint8Array, max: number = Limits.reasonBytes): string {
  const r = new BitReader(bytes);
  const s = r.readString(max);
  r.expectEnd();
  return s;
}

/** Control: one session packet, encoded as on the control channel. */
export function encodeMuxControl(p: SessionPacket): Uint8Array {
  return encodeSessionPacket(p);
}

export function decodeMuxControl(bytes: Uint8Array): SessionPacket {
  return decodeSessionPacket(bytes);
}

/**
 * Message: `u8 channel`, `u8 flags` (bit 0: a tick follows), `[u32 tick]`, then the payload
 * (the rest of the frame; the proxy never decodes it).
 */
export function encodeMuxMessage(channel: number, payload: Uint8Array, tick?: number): Uint8Array {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) throw new EncodeError(`channel ${channel}`);
  const hasTick = tick !== undefined;
  if (hasTick && !(Number.isInteger(tick) && tick >= 0 && tick <= 0xffffffff))
    throw new EncodeError(`tick ${tick}`);
  const head = hasTick ? 6 : 2;
  const out = new Uint8Array(head + payload.length);
  out[0] = channel;
  out[1] = hasTick ? 1 : 0;
  if (hasTick) new DataView(out.buffer).setUint32(2, tick, true);
  out.set(payload, head);
  return out;
}

export function decodeMuxMessage(bytes: Uint8Array): MuxMessage {
  if (bytes.length < 2) throw new DecodeError('truncated', 'mux message header');
  const channel = bytes[0];
  const flags = bytes[1];
  if (flags >> 1 !== 0) throw new DecodeError('invalid', 'reserved flag bits set');
  if (flags & 1) {
    if (bytes.length < 6) throw new DecodeError('truncated', 'mux message tick');
    const tick = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2, true);
    return { channel, tick, payload: bytes.subarray(6) };
  }
  return { channel, payload: bytes.subarray(2) };
}

/** ClientRtt: `varuint ms`. Ping/Pong: `u32 seq` (echoed). */
export function encodeVarUint(v: number): Uint8Array {
  const w = new BitWriter(8);
  w.writeVarUint(v);
  return w.finish();
}

export function decodeVarUint(bytes: Uint8Array): number {
  const r = new BitReader(bytes);
  const v = r.readVarUint();
  r.expectEnd();
  return v;
}

export function encodeU32(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v >>> 0, true);
  return out;
}

export function decodeU32(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new DecodeError('invalid', 'expected 4 bytes');
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `s` cut to at most `max` UTF-8 bytes on a character boundary. */
export function clampUtf8(s: string, max: number): string {
  const b = enc.encode(s);
  if (b.length <= max) return s;
  return dec.decode(b.subarray(0, max)).replace(/\uFFFD$/, '');
}

/** Session packets a backend may send a player through the proxy. */
export const BACKEND_CONTROL_TYPES: ReadonlySet<SessionPacket['type']> = new Set([
  'SetClientId',
  'ServerInfo',
  'WorldSettings',
  'JoinWorld',
  'ClientReferral',
  'Disconnect',
]);

/** Session packets a proxy forwards from a player to its backend. */
export const CLIENT_CONTROL_TYPES: ReadonlySet<SessionPacket['type']> = new Set([
  'ViewRadius',
  'PlayerOptions',
  'ClientReady',
  'Disconnect',
]);

// ---- seamless migration (docs/wire/mux.md "Migration") ----------------------------------------

/** TicketReply: the source backend's answer to TicketRequest. */
export type TicketReply =
  | { readonly ok: true; readonly ticket: Uint8Array; readonly state: Uint8Array }
  | { readonly ok: false; readonly reason: string };

export function encodeTicketReply(r: TicketReply): Uint8Array {
  const w = new BitWriter(64 + (r.ok ? r.ticket.length + r.state.length : 0));
  w.writeU8(r.ok ? 1 : 0);
  if (r.ok) {
    w.writeBytes(r.ticket, MUX_MAX_TICKET_BYTES);
    w.writeBytes(r.state, MUX_MAX_STATE_BYTES);
  } else w.writeString(clampUtf8(r.reason, Limits.reasonBytes), Limits.reasonBytes);
  return w.finish();
}

export function decodeTicketReply(bytes: Uint8Array): TicketReply {
  const r = new BitReader(bytes);
  const ok = r.readU8();
  if (ok > 1) throw new DecodeError('invalid', 'TicketReply flag');
  let out: TicketReply;
  if (ok === 1)
    out = { ok: true, ticket: r.readBytes(MUX_MAX_TICKET_BYTES), state: r.readBytes(MUX_MAX_STATE_BYTES) };
  else out = { ok: false, reason: r.readString(Limits.reasonBytes) };
  r.expectEnd();
  return out;
}

/** MigrateOpen: who hands the player over, its ticket and state, then the player's PlayerOpen. */
export interface MigrateOpen {
  readonly source: string;
  readonly ticket: Uint8Array;
  readonly state: Uint8Array;
  readonly open: PlayerOpen;
}

export function encodeMigrateOpen(m: MigrateOpen): Uint8Array {
  const open = encodePlayerOpen(m.open);
  const w = new BitWriter(96 + m.ticket.length + m.state.length + open.length);
  w.writeString(m.source, MUX_MAX_BACKEND_ID_BYTES);
  w.writeBytes(m.ticket, MUX_MAX_TICKET_BYTES);
  w.writeBytes(m.state, MUX_MAX_STATE_BYTES);
  w.writeRaw(open);
  return w.finish();
}

export function decodeMigrateOpen(bytes: Uint8Array): MigrateOpen {
  const r = new BitReader(bytes);
  const source = r.readString(MUX_MAX_BACKEND_ID_BYTES);
  const ticket = r.readBytes(MUX_MAX_TICKET_BYTES);
  const state = r.readBytes(MUX_MAX_STATE_BYTES);
  const rest = r.readRaw(r.remainingBits >> 3);
  return { source, ticket, state, open: decodePlayerOpen(rest) };
}

/** Handoff: the source backend's last word about a frozen player. */
export interface Handoff {
  /** The source backend's tick when it handed off (the proxy translates tick-buffered ticks). */
  readonly tick: number;
  /** The final player state (the game's `handOff` hook). */
  readonly state: Uint8Array;
  /** Global ids of the entities that carry over (the player's own and delegated ones it holds). */
  readonly carried: readonly number[];
  /** Tick-buffered messages the source had not delivered yet (their ticks are the source's). */
  readonly tickMessages: readonly {
    readonly channel: number;
    readonly tick: number;
    readonly payload: Uint8Array;
  }[];
  /**
   * The carried entities' state as the world layer serialises it (components, the wire id the
   * client knows each by, delegation): opaque here, restored by the target. Empty: none.
   */
  readonly entities: Uint8Array;
}

export function encodeHandoff(h: Handoff): Uint8Array {
  const w = new BitWriter(64 + h.state.length);
  w.writeVarUint(h.tick);
  w.writeBytes(h.state, MUX_MAX_STATE_BYTES);
  if (h.carried.length > MUX_MAX_CARRIED) throw new EncodeError('too many carried entities');
  w.writeVarUint(h.carried.length);
  for (const e of h.carried) w.writeVarUint(e);
  if (h.tickMessages.length > MUX_MAX_HANDOFF_TICK_MESSAGES) throw new EncodeError('too many tick messages');
  w.writeVarUint(h.tickMessages.length);
  for (const m of h.tickMessages) {
    w.writeU8(m.channel);
    w.writeU32(m.tick);
    w.writeBytes(m.payload, MUX_MAX_STATE_BYTES);
  }
  w.writeBytes(h.entities, MUX_MAX_ENTITY_BYTES);
  return w.finish();
}

export function decodeHandoff(bytes: Uint8Array): Handoff {
  const r = new BitReader(bytes);
  const tick = r.readVarUint();
  const state = r.readBytes(MUX_MAX_STATE_BYTES);
  const n = r.readVarUint();
  if (n > MUX_MAX_CARRIED) throw new DecodeError('out-of-range', 'carried entities');
  const carried: number[] = [];
  for (let i = 0; i < n; i++) carried.push(r.readVarUint());
  const m = r.readVarUint();
  if (m > MUX_MAX_HANDOFF_TICK_MESSAGES) throw new DecodeError('out-of-range', 'tick messages');
  const tickMessages: { channel: number; tick: number; payload: Uint8Array }[] = [];
  for (let i = 0; i < m; i++) {
    const channel = r.readU8();
    const t = r.readU32();
    tickMessages.push({ channel, tick: t, payload: r.readBytes(MUX_MAX_STATE_BYTES) });
  }
  const entities = r.readBytes(MUX_MAX_ENTITY_BYTES);
  r.expectEnd();
  return { tick, state, carried, tickMessages, entities };
}

/** Restore: cutover on the target — the source's id, the final state and the carried entities. */
export interface Restore {
  readonly source: string;
  readonly state: Uint8Array;
  readonly carried: readonly number[];
  /** The Handoff's carried-entity state, unchanged. */
  readonly entities: Uint8Array;
}

export function encodeRestore(x: Restore): Uint8Array {
  const w = new BitWriter(64 + x.state.length);
  w.writeString(x.source, MUX_MAX_BACKEND_ID_BYTES);
  w.writeBytes(x.state, MUX_MAX_STATE_BYTES);
  if (x.carried.length > MUX_MAX_CARRIED) throw new EncodeError('too many carried entities');
  w.writeVarUint(x.carried.length);
  for (const e of x.carried) w.writeVarUint(e);
  w.writeBytes(x.entities, MUX_MAX_ENTITY_BYTES);
  return w.finish();
}

export function decodeRestore(bytes: Uint8Array): Restore {
  const r = new BitReader(bytes);
  const source = r.readString(MUX_MAX_BACKEND_ID_BYTES);
  const state = r.readBytes(MUX_MAX_STATE_BYTES);
  const n = r.readVarUint();
  if (n > MUX_MAX_CARRIED) throw new DecodeError('out-of-range', 'carried entities');
  const carried: number[] = [];
  for (let i = 0; i < n; i++) carried.push(r.readVarUint());
  const entities = r.readBytes(MUX_MAX_ENTITY_BYTES);
  r.expectEnd();
  return { source, state, carried, entities };
}

/** Restored: the target's (source wire id → target wire id) pairs of the carried entities the client knows. */
export interface CarriedPair {
  readonly from: number;
  readonly to: number;
}

export function encodeRestored(pairs: readonly CarriedPair[]): Uint8Array {
  if (pairs.length > MUX_MAX_CARRIED) throw new EncodeError('too many carried entities');
  const w = new BitWriter(8 + pairs.length * 4);
  w.writeVarUint(pairs.length);
  for (const p of pairs) {
    w.writeVarUint(p.from);
    w.writeVarUint(p.to);
  }
  return w.finish();
}

export function decodeRestored(bytes: Uint8Array): CarriedPair[] {
  const r = new BitReader(bytes);
  const n = r.readVarUint();
  if (n > MUX_MAX_CARRIED) throw new DecodeError('out-of-range', 'carried entities');
  const out: CarriedPair[] = [];
  for (let i = 0; i < n; i++) out.push({ from: r.readVarUint(), to: r.readVarUint() });
  r.expectEnd();
  return out;
}
