import { BitReader, BitWriter, DecodeError, EncodeError } from '../../serde/index.js';
import { decodeSessionPacket, encodeSessionPacket } from './codec.js';
import { Limits } from './kinds.js';
import type { ConnectRejectPacket } from './types.js';

/**
 * Connectionless session datagrams: the ones exchanged before a link exists. Their first byte
 * is in 0x40..0xFF, which the link layer never uses (its packets start 0x00..0x3F), so one
 * socket carries both. Layouts: docs/wire/session.md.
 */
export const ConnectionlessKind = {
  /** Client → server: one fragment of a `Connect` packet (with the retry cookie once it has one). */
  ConnectRequest: 0x40,
  /** Server → client: a stateless `ConnectReject`. */
  ConnectReject: 0x41,
  /** Server → client, stateless: "send your Connect again with this cookie" (address validation). */
  ConnectRetry: 0x42,
  /**
   * Server → client: one link packet of the session opened for this attempt, wrapped with the
   * attempt's nonce — how the server sends until the client's first link packet arrives, so the
   * client never takes another session's packets (one lingering on its address) for its own.
   */
  SessionLink: 0x43,
} as const;

/** Version byte of the connectionless envelope. */
export const CONNECTIONLESS_VERSION = 2;
/** Fixed header of a ConnectRequest fragment (before the cookie). */
export const CONNECT_FRAGMENT_HEADER_BYTES = 12;
/** Longest retry cookie a ConnectRequest or ConnectRetry may carry. */
export const MAX_COOKIE_BYTES = 32;
/** Envelope bytes before the link packet in a SessionLink datagram. */
export const SESSION_LINK_HEADER_BYTES = 6;
/** Most fragments a Connect may be split into. */
export const MAX_CONNECT_FRAGMENTS = 8;
/**
 * ConnectRequest datagrams are zero-padded to at least this size. It makes every reply the
 * server sends before the client proved its address (stateless reject, first link packets)
 * no larger than what the client sent: no reflection amplification.
 */
export const MIN_CONNECT_DATAGRAM_BYTES = 256;
/** Largest whole Connect packet accepted (all of its fields at their maximum fit). */
export const MAX_CONNECT_BYTES = 7000;

/** One decoded ConnectRequest fragment. */
export interface ConnectFragment {
  readonly nonce: number;
  readonly index: number;
  readonly count: number;
  readonly totalLength: number;
  /** Nominal size of every fragment but possibly the last: ceil(total / count). */
  readonly fragmentSize: number;
  readonly bytes: Uint8Array;
  /** The retry cookie echoed by the client (empty before it has one). */
  readonly cookie: Uint8Array;
}

/** Whether a datagram is connectionless (session) rather than a link packet. */
export function isConnectionless(firstByte: number): boolean {
  return firstByte >= 0x40;
}

/**
 * Split an encoded Connect packet into padded ConnectRequest datagrams of at most `mtu` bytes,
 * each carrying `cookie` (empty on the first try). The split does not depend on the cookie (room
 * for the longest one is always kept), so a retry re-sends the same fragments.
 * Throws EncodeError when it would need more than {@link MAX_CONNECT_FRAGMENTS}.
 */
export function encodeConnectRequest(
  connect: Uint8Array,
  nonce: number,
  mtu: number,
  cookie: Uint8Array = new Uint8Array(0),
): Uint8Array[] {
  if (connect.length === 0 || connect.length > MAX_CONNECT_BYTES) {
    throw new EncodeError(`Connect of ${connect.length} bytes (max ${MAX_CONNECT_BYTES})`);
  }
  if (cookie.length > MAX_COOKIE_BYTES) throw new EncodeError(`cookie of ${cookie.length} bytes`);
  const room = mtu - CONNECT_FRAGMENT_HEADER_BYTES - MAX_COOKIE_BYTES;
  if (room < 64) throw new EncodeError(`mtu ${mtu} too small for a Connect`);
  const count = Math.ceil(connect.length / room);
  if (count > MAX_CONNECT_FRAGMENTS) throw new EncodeError(`Connect needs ${count} fragments`);
  const size = Math.ceil(connect.length / count);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = connect.subarray(i * size, Math.min(connect.length, (i + 1) * size));
    const w = new BitWriter(
      Math.max(MIN_CONNECT_DATAGRAM_BYTES, part.length + CONNECT_FRAGMENT_HEADER_BYTES + cookie.length),
    );
    w.writeU8(ConnectionlessKind.ConnectRequest);
    w.writeU8(CONNECTIONLESS_VERSION);
    w.writeU32(nonce >>> 0);
    w.writeU8(i | ((count - 1) << 4));
    w.writeU16(connect.length);
    w.writeU16(part.length);
    w.writeU8(cookie.length);
    w.writeRaw(cookie);
    w.writeRaw(part);
    const pad = MIN_CONNECT_DATAGRAM_BYTES - w.byteLength;
    if (pad > 0) w.writeRaw(new Uint8Array(Math.min(pad, mtu - w.byteLength)));
    out.push(w.finish());
  }
  return out;
}

/** Decode a ConnectRequest fragment. Throws {@link DecodeError}; never allocates beyond the input. */
export function decodeConnectFragment(data: Uint8Array): ConnectFragment {
  if (data.length < MIN_CONNECT_DATAGRAM_BYTES) throw new DecodeError('invalid', 'ConnectRequest not padded');
  const r = new BitReader(data);
  if (r.readU8() !== ConnectionlessKind.ConnectRequest)
    throw new DecodeError('invalid', 'not a ConnectRequest');
  if (r.readU8() !== CONNECTIONLESS_VERSION) throw new DecodeError('out-of-range', 'connectionless version');
  const nonce = r.readU32();
  const frag = r.readU8();
  const index = frag & 0x0f;
  const count = (frag >> 4) + 1;
  if (count > MAX_CONNECT_FRAGMENTS || index >= count)
    throw new DecodeError('out-of-range', 'fragment index');
  const totalLength = r.readU16();
  if (totalLength === 0 || totalLength > MAX_CONNECT_BYTES)
    throw new DecodeError('out-of-range', 'Connect length');
  const fragmentSize = Math.ceil(totalLength / count);
  // every fragment must carry at least one byte, so `count` is the minimal cover of `total`
  if ((count - 1) * fragmentSize >= totalLength) throw new DecodeError('invalid', 'fragment count');
  const expected = Math.min(fragmentSize, totalLength - index * fragmentSize);
  const length = r.readU16();
  if (length !== expected) throw new DecodeError('invalid', 'fragment length');
  const cookieLength = r.readU8();
  if (cookieLength > MAX_COOKIE_BYTES) throw new DecodeError('too-long', 'cookie length');
  const cookie = r.readRaw(cookieLength);
  const bytes = r.readRaw(length);
  for (let i = r.position >>> 3; i < data.length; i++) {
    if (data[i] !== 0) throw new DecodeError('invalid', 'non-zero padding');
  }
  return { nonce, index, count, totalLength, fragmentSize, bytes, cookie };
}

/** Encode a stateless ConnectRetry: the attempt's nonce and the cookie to echo. */
export function encodeConnectRetry(nonce: number, cookie: Uint8Array): Uint8Array {
  if (cookie.length === 0 || cookie.length > MAX_COOKIE_BYTES) {
    throw new EncodeError(`cookie of ${cookie.length} bytes`);
  }
  const w = new BitWriter(7 + cookie.length);
  w.writeU8(ConnectionlessKind.ConnectRetry);
  w.writeU8(CONNECTIONLESS_VERSION);
  w.writeU32(nonce >>> 0);
  w.writeU8(cookie.length);
  w.writeRaw(cookie);
  return w.finish();
}

/** Decode a ConnectRetry. Throws {@link DecodeError}. */
export function decodeConnectRetry(data: Uint8Array): { nonce: number; cookie: Uint8Array } {
  const r = new BitReader(data);
  if (r.readU8() !== ConnectionlessKind.ConnectRetry) throw new DecodeError('invalid', 'not a ConnectRetry');
  if (r.readU8() !== CONNECTIONLESS_VERSION) throw new DecodeError('out-of-range', 'connectionless version');
  const nonce = r.readU32();
  const length = r.readU8();
  if (length === 0 || length > MAX_COOKIE_BYTES) throw new DecodeError('out-of-range', 'cookie length');
  const cookie = r.readRaw(length).slice();
  if (r.position >>> 3 !== data.length) throw new DecodeError('invalid', 'trailing bytes');
  return { nonce, cookie };
}

/** Wrap a link packet of the session opened for the attempt `nonce`. */
export function encodeSessionLink(nonce: number, linkPacket: Uint8Array): Uint8Array {
  const out = new Uint8Array(SESSION_LINK_HEADER_BYTES + linkPacket.length);
  out[0] = ConnectionlessKind.SessionLink;
  out[1] = CONNECTIONLESS_VERSION;
  new DataView(out.buffer).setUint32(2, nonce >>> 0, true);
  out.set(linkPacket, SESSION_LINK_HEADER_BYTES);
  return out;
}

/** Unwrap a SessionLink: the attempt's nonce and the link packet (a view). Throws {@link DecodeError}. */
export function decodeSessionLink(data: Uint8Array): { nonce: number; linkPacket: Uint8Array } {
  if (data.length <= SESSION_LINK_HEADER_BYTES) throw new DecodeError('invalid', 'SessionLink length');
  if (data[0] !== ConnectionlessKind.SessionLink) throw new DecodeError('invalid', 'not a SessionLink');
  if (data[1] !== CONNECTIONLESS_VERSION) throw new DecodeError('out-of-range', 'connectionless version');
  const nonce = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(2, true);
  return { nonce, linkPacket: data.subarray(SESSION_LINK_HEADER_BYTES) };
}

/**
 * Encode a stateless ConnectReject no larger than `maxBytes` (the size of the datagram it
 * answers): the reason is cut at a UTF-8 boundary to fit. Returns undefined if even an empty
 * reason does not fit.
 */
export function encodeConnectlessReject(
  nonce: number,
  reject: Omit<ConnectRejectPacket, 'type'>,
  maxBytes: number,
): Uint8Array | undefined {
  let reason = truncateUtf8(reject.reason, Limits.reasonBytes);
  for (;;) {
    const body = encodeSessionPacket({ type: 'ConnectReject', code: reject.code, reason });
    if (6 + body.length <= maxBytes) {
      const w = new BitWriter(6 + body.length);
      w.writeU8(ConnectionlessKind.ConnectReject);
      w.writeU8(CONNECTIONLESS_VERSION);
      w.writeU32(nonce >>> 0);
      w.writeRaw(body);
      return w.finish();
    }
    if (reason.length === 0) return undefined;
    reason = truncateUtf8(
      reason,
      Math.max(0, new TextEncoder().encode(reason).length - (6 + body.length - maxBytes)),
    );
  }
}

/** Decode a stateless ConnectReject. Throws {@link DecodeError}. */
export function decodeConnectionlessReject(data: Uint8Array): { nonce: number; reject: ConnectRejectPacket } {
  const r = new BitReader(data);
  if (r.readU8() !== ConnectionlessKind.ConnectReject)
    throw new DecodeError('invalid', 'not a ConnectReject');
  if (r.readU8() !== CONNECTIONLESS_VERSION) throw new DecodeError('out-of-range', 'connectionless version');
  const nonce = r.readU32();
  const packet = decodeSessionPacket(data.subarray(6));
  if (packet.type !== 'ConnectReject')
    throw new DecodeError('invalid', 'connectionless reply is not a reject');
  return { nonce, reject: packet };
}

/** The longest prefix of `s` whose UTF-8 encoding is at most `maxBytes`. */
export function truncateUtf8(s: string, maxBytes: number): string {
  const enc = new TextEncoder();
  if (enc.encode(s).length <= maxBytes) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = enc.encode(ch).length;
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}
