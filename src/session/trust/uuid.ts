import { DecodeError, EncodeError } from '../../serde/DecodeError.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Canonical UUID string (any case) → 16 bytes; EncodeError on anything else. */
export function uuidToBytes(uuid: string): Uint8Array {
  const s = uuid.toLowerCase();
  if (!UUID_RE.test(s)) throw new EncodeError(`not a UUID: '${uuid}'`);
  const hex = s.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** 16 bytes → canonical lowercase UUID string. */
export function uuidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new DecodeError('invalid', 'uuid must be 16 bytes');
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Whether `uuid` names the same UUID as `expected` (case-insensitive; false if either is not a UUID). */
export function sameUuid(uuid: string, expected: string): boolean {
  return UUID_RE.test(uuid.toLowerCase()) && uuid.toLowerCase() === expected.toLowerCase();
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, '0');
  return hex;
}
