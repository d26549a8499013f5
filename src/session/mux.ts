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
