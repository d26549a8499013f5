import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/Clock.js';

/** Options of the stateless address-validation cookies. */
export interface RetryCookieOptions {
  /** A cookie is accepted this long after it was issued (default 10 000 ms). */
  readonly lifetimeMs?: number;
  /** The signing secret is replaced this often; the previous one stays valid (default 60 000 ms). */
  readonly rotateMs?: number;
}

/** Bytes of a cookie: generation u8 · issuedAt u32 (ms, mod 2^32) · 16-byte HMAC-SHA256 tag. */
export const RETRY_COOKIE_BYTES = 21;
const TAG_BYTES = 16;
const LABEL = Buffer.from('baton-retry-v1');

interface Secret {
  readonly generation: number;
  readonly key: Buffer;
  readonly since: number;
}

/**
 * Stateless address validation (as QUIC Retry and DTLS HelloVerifyRequest): the server answers
 * a cookie-less Connect with a cookie that signs the peer's address and the attempt's nonce,
 * and creates state only for a Connect that echoes a valid one — proof that the peer receives
 * at the address it sends from. Nothing is stored per peer; the only state is two secrets.
 */
export class RetryCookies {
  private readonly lifetimeMs: number;
  private readonly rotateMs: number;
  private current: Secret;
  private previous: Secret | undefined;

  constructor(
    private readonly clock: Clock,
    options: RetryCookieOptions = {},
  ) {
    this.lifetimeMs = options.lifetimeMs ?? 10_000;
    this.rotateMs = options.rotateMs ?? 60_000;
    if (!(this.lifetimeMs > 0) || !(this.rotateMs >= this.lifetimeMs)) {
      throw new RangeError('retry cookies: need 0 < lifetimeMs <= rotateMs');
    }
    this.current = { generation: 0, key: randomBytes(32), since: clock.now() };
  }

  /** A cookie for `peer` (the server's key of the sender's address) and this attempt's nonce. */
  issue(peer: string, nonce: number): Uint8Array {
    const now = this.clock.now();
    this.rotate(now);
    const out = new Uint8Array(RETRY_COOKIE_BYTES);
    const issuedAt = Math.floor(now) >>> 0;
    out[0] = this.current.generation;
    new DataView(out.buffer).setUint32(1, issuedAt, true);
    out.set(this.tag(this.current.key, peer, nonce, out.subarray(0, 5)), 5);
    return out;
  }

  /** Whether `cookie` was issued by this server, to this address, for this attempt, recently. */
  verify(peer: string, nonce: number, cookie: Uint8Array): boolean {
    if (cookie.length !== RETRY_COOKIE_BYTES) return false;
    const now = this.clock.now();
    this.rotate(now);
    const secret =
      cookie[0] === this.current.generation
        ? this.current
        : cookie[0] === this.previous?.generation
          ? this.previous
          : undefined;
    if (!secret) return false;
    const issuedAt = new DataView(cookie.buffer, cookie.byteOffset, cookie.byteLength).getUint32(1, true);
    // modular age: the 32-bit millisecond stamp wraps every 49 days
    const age = ((Math.floor(now) >>> 0) - issuedAt) >>> 0;
    if (age > this.lifetimeMs) return false;
    const expected = this.tag(secret.key, peer, nonce, cookie.subarray(0, 5));
    return timingSafeEqual(expected, cookie.subarray(5));
  }

  private rotate(now: number): void {
    if (now - this.current.since < this.rotateMs) return;
    const stale = now - this.current.since >= 2 * this.rotateMs;
    this.previous = stale ? undefined : this.current;
    this.current = {
      generation: (this.current.generation + 1) & 0xff,
      key: randomBytes(32),
      since: now,
    };
  }

  private tag(key: Buffer, peer: string, nonce: number, head: Uint8Array): Uint8Array {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(nonce >>> 0);
    const h = createHmac('sha256', key).update(LABEL).update(head).update(n).update(peer, 'utf8').digest();
    return new Uint8Array(h.buffer, h.byteOffset, TAG_BYTES);
  }
}
