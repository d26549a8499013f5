import { DecodeError, EncodeError } from '../../serde/index.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `s` is a canonical (lowercase, hyphenated) UUID string. */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** Canonical UUID string → 16 bytes. Accepts upper case; EncodeError on anything else. */
export function uuidToBytes(uuid: string): Uint8Array {
  const s = uuid.toLowerCase();
  if (!isUuid(s)) throw new EncodeError(`not a UUID: '${uuid}'`);
  const hex = s.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** 16 bytes → canonical lowercase UUID string. */
export function uuidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new DecodeError('invalid', 'uuid must be 16 bytes');
  let hex = '';
  for (let i = 0; i < 16; i++) hex += bytes[i].toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A random version-4 UUID (Web Crypto's `getRandomValues`: present in browsers and Node ≥ 19). */
export function randomUuid(): string {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return uuidFromBytes(b);
}

/** Cryptographically random bytes, browser-safe. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}
