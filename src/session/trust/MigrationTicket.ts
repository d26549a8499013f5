/**
 * Migration tickets (DESIGN.md §5): backend A signs, backend B verifies, the proxy carries.
 * A ticket says "A hands player `subject` on proxy session `proxySessionId` to B, with state of
 * digest `stateDigest`, built for protocol `protocolHash`, usable once, within 30 s".
 * Layout: docs/wire/cluster.md. Signature: Ed25519 over a context string and the body.
 */
import { createHash, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { BitReader } from '../../serde/BitReader.js';
import { BitWriter } from '../../serde/BitWriter.js';
import { DecodeError, EncodeError } from '../../serde/DecodeError.js';
import type { Clock } from '../../util/Clock.js';
import { wallClock } from './clock.js';
import {
  type PrivateKeyInput,
  type PublicKeyInput,
  signWithContext,
  toPrivateKey,
  toPublicKey,
  verifyWithContext,
} from './ed25519.js';
import type { NonceStore } from './NonceStore.js';
import { sameUuid, toHex, uuidFromBytes, uuidToBytes } from './uuid.js';

/** Longest lifetime (expiresAt − issuedAt) a ticket may have, enforced at issue and at verify. */
export const MAX_TICKET_TTL_MS = 30_000;
/** Format version, the ticket's first byte. */
export const TICKET_VERSION = 1;
/** Signed before the body, so no other signed format of this project can pass for a ticket. */
export const TICKET_SIGNING_CONTEXT = new TextEncoder().encode('baton/migration-ticket/v1\0');
/** Most bytes a ticket can take (two 64-byte ids at most); longer input is malformed without parsing. */
export const TICKET_MAX_BYTES = 512;
/** Longest backend id in a ticket or token, UTF-8 bytes. */
export const MAX_BACKEND_ID_BYTES = 64;
/** Ed25519 signature length. */
export const SIGNATURE_BYTES = 64;

const U64_MAX = (1n << 64n) - 1n;

/** What a ticket asserts. Times are wall-clock ms since the Unix epoch. */
export interface MigrationTicketClaims {
  /** Backend id of the signer (the source backend, A). */
  readonly issuer: string;
  /** Backend id the ticket is for (the target backend, B). */
  readonly audience: string;
  /** The client's UUID (canonical string). */
  readonly subject: string;
  /** The proxy's session id of this player (the stream frame session id, u32). */
  readonly proxySessionId: number;
  /** 16 random bytes; the ticket is accepted once per nonce. */
  readonly nonce: Uint8Array;
  readonly issuedAt: number;
  /** Not valid before this (≥ issuedAt). */
  readonly notBefore: number;
  /** Not valid from this instant on (> notBefore, ≤ issuedAt + 30 s). */
  readonly expiresAt: number;
  /** The protocol hash both backends must share: a u64 (the session layer's `protocolHash`). */
  readonly protocolHash: bigint;
  /** SHA-256 of the handed-off state bytes (32 bytes). */
  readonly stateDigest: Uint8Array;
}

/** Why a ticket was refused; each check has its own reason. */
export type TicketRejection =
  | 'malformed'
  | 'unknown-issuer'
  | 'bad-signature'
  | 'ttl-too-long'
  | 'wrong-audience'
  | 'wrong-subject'
  | 'wrong-session'
  | 'wrong-protocol'
  | 'not-yet-valid'
  | 'expired'
  | 'state-digest-mismatch'
  | 'replayed';

/** The result of {@link verifyTicket}. */
export type TicketVerdict =
  | { readonly ok: true; readonly claims: MigrationTicketClaims }
  | { readonly ok: false; readonly reason: TicketRejection; readonly detail: string };

/** SHA-256 of state bytes, as carried in `stateDigest`. */
export function stateDigest(state: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(state).digest());
}

function checkBackendId(id: string, what: string): void {
  if (id.length === 0) throw new EncodeError(`${what} must not be empty`);
}

/**
 * The signed part of a ticket (everything but the signature). Checks the shape of every field
 * (EncodeError) but not the TTL policy, which {@link issueTicket} enforces.
 */
export function encodeTicketBody(claims: MigrationTicketClaims): Uint8Array {
  checkBackendId(claims.issuer, 'issuer');
  checkBackendId(claims.audience, 'audience');
  if (claims.nonce.length !== 16) throw new EncodeError('nonce must be 16 bytes');
  if (claims.stateDigest.length !== 32) throw new EncodeError('stateDigest must be 32 bytes');
  if (claims.protocolHash < 0n || claims.protocolHash > U64_MAX)
    throw new EncodeError('protocolHash is not a u64');
  if (!(claims.issuedAt <= claims.notBefore && claims.notBefore <= claims.expiresAt)) {
    throw new EncodeError('times must satisfy issuedAt ≤ notBefore ≤ expiresAt');
  }
  const w = new BitWriter(256);
  w.writeU8(TICKET_VERSION);
  w.writeString(claims.issuer, MAX_BACKEND_ID_BYTES);
  w.writeString(claims.audience, MAX_BACKEND_ID_BYTES);
  w.writeRaw(uuidToBytes(claims.subject));
  w.writeU32(claims.proxySessionId);
  w.writeRaw(claims.nonce);
  w.writeVarUint(claims.issuedAt);
  w.writeVarUint(claims.notBefore - claims.issuedAt);
  w.writeVarUint(claims.expiresAt - claims.issuedAt);
  w.writeU32(Number(claims.protocolHash & 0xffffffffn));
  w.writeU32(Number(claims.protocolHash >> 32n));
  w.writeRaw(claims.stateDigest);
  return w.finish();
}

/** A decoded, not yet verified ticket. */
export interface DecodedTicket {
  readonly claims: MigrationTicketClaims;
  /** The signed bytes. */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

/** Parse a ticket without verifying anything. Throws only {@link DecodeError}. */
export function decodeTicket(bytes: Uint8Array): DecodedTicket {
  if (bytes.length > TICKET_MAX_BYTES) throw new DecodeError('too-long', `ticket of ${bytes.length} bytes`);
  const r = new BitReader(bytes);
  const version = r.readU8();
  if (version !== TICKET_VERSION) throw new DecodeError('out-of-range', `ticket version ${version}`);
  const issuer = r.readString(MAX_BACKEND_ID_BYTES);
  const audience = r.readString(MAX_BACKEND_ID_BYTES);
  if (issuer.length === 0 || audience.length === 0) throw new DecodeError('invalid', 'empty backend id');
  const subject = uuidFromBytes(r.readRaw(16));
  const proxySessionId = r.readU32();
  const nonce = r.readRaw(16);
  const issuedAt = r.readVarUint();
  const notBeforeOffset = r.readVarUint();
  const expiresOffset = r.readVarUint();
  if (notBeforeOffset > expiresOffset) throw new DecodeError('invalid', 'notBefore after expiresAt');
  if (issuedAt + expiresOffset > Number.MAX_SAFE_INTEGER) throw new DecodeError('overflow', 'expiresAt');
  const low = r.readU32();
  const high = r.readU32();
  const digest = r.readRaw(32);
  const bodyLength = r.position >>> 3;
  const signature = r.readRaw(SIGNATURE_BYTES);
  r.expectEnd();
  return {
    claims: {
      issuer,
      audience,
      subject,
      proxySessionId,
      nonce,
      issuedAt,
      notBefore: issuedAt + notBeforeOffset,
      expiresAt: issuedAt + expiresOffset,
      protocolHash: (BigInt(high) << 32n) | BigInt(low),
      stateDigest: digest,
    },
    body: bytes.slice(0, bodyLength),
    signature,
  };
}

/**
 * Sign a ticket. Throws EncodeError for claims a verifier would refuse by construction: a TTL
 * (expiresAt − issuedAt) of zero or above {@link MAX_TICKET_TTL_MS}, wrong field sizes, a
 * subject that is not a UUID, ids over 64 bytes.
 */
export function issueTicket(claims: MigrationTicketClaims, privateKey: PrivateKeyInput): Uint8Array {
  const ttl = claims.expiresAt - claims.issuedAt;
  if (!(ttl > 0 && ttl <= MAX_TICKET_TTL_MS)) {
    throw new EncodeError(`ticket TTL ${ttl} ms outside (0, ${MAX_TICKET_TTL_MS}]`);
  }
  const body = encodeTicketBody(claims);
  const signature = signWithContext(TICKET_SIGNING_CONTEXT, body, toPrivateKey(privateKey));
  const out = new Uint8Array(body.length + SIGNATURE_BYTES);
  out.set(body);
  out.set(signature, body.length);
  return out;
}

/** Inputs of {@link createTicketClaims}. */
export interface TicketRequest {
  issuer: string;
  audience: string;
  subject: string;
  proxySessionId: number;
  protocolHash: bigint;
  /** The handed-off state bytes (hashed into `stateDigest`). */
  state: Uint8Array;
  /** Lifetime. Default 10 000 ms; at most {@link MAX_TICKET_TTL_MS}. */
  ttlMs?: number;
  clock?: Clock;
}

/** Claims with a fresh random nonce, `issuedAt = notBefore = now` and the digest of `state`. */
export function createTicketClaims(request: TicketRequest): MigrationTicketClaims {
  const now = Math.floor((request.clock ?? wallClock).now());
  return {
    issuer: request.issuer,
    audience: request.audience,
    subject: request.subject,
    proxySessionId: request.proxySessionId,
    nonce: new Uint8Array(randomBytes(16)),
    issuedAt: now,
    notBefore: now,
    expiresAt: now + (request.ttlMs ?? 10_000),
    protocolHash: request.protocolHash,
    stateDigest: stateDigest(request.state),
  };
}

/** Looks up an issuer's public key; undefined for an unknown issuer. */
export type PublicKeyLookup = (
  issuer: string,
) => PublicKeyInput | undefined | Promise<PublicKeyInput | KeyObject | undefined>;

/** What the verifying backend (B) expects. */
export interface VerifyTicketOptions {
  /** B's own backend id. */
  expectedAudience: string;
  /** The UUID of the client the proxy presents. */
  expectedSubject: string;
  /** B's protocol hash. */
  expectedProtocolHash: bigint;
  /** If given, the proxy session id the ticket must name. */
  expectedProxySessionId?: number;
  /** The handed-off state as received (hashed here), or its digest. One of the two is required. */
  stateBytes?: Uint8Array;
  stateDigest?: Uint8Array;
  publicKeyOf: PublicKeyLookup;
  nonceStore: NonceStore;
  /** Wall clock. Default {@link wallClock}. */
  clock?: Clock;
  /** Tolerated clock difference between issuer and verifier. Default 2000 ms. */
  clockSkewMs?: number;
}

function reject(reason: TicketRejection, detail: string): TicketVerdict {
  return { ok: false, reason, detail };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Check a ticket, in this order: shape (`malformed`), issuer key (`unknown-issuer`), signature
 * (`bad-signature`) — nothing from the claims is trusted before this point — then TTL, audience,
 * subject, proxy session, protocol, validity window, state digest, and last the nonce
 * (`replayed`), so a ticket refused for any other reason does not burn its nonce. The nonce is
 * remembered until `expiresAt + clockSkewMs`.
 *
 * Never throws for bad ticket bytes. Errors thrown by `publicKeyOf` or the nonce store
 * (infrastructure failures, not verdicts on the ticket) propagate; a key that is not Ed25519
 * counts as `unknown-issuer`.
 */
export async function verifyTicket(bytes: Uint8Array, options: VerifyTicketOptions): Promise<TicketVerdict> {
  if (!options.stateBytes && !options.stateDigest)
    throw new TypeError('verifyTicket: stateBytes or stateDigest required');
  let decoded: DecodedTicket;
  try {
    decoded = decodeTicket(bytes);
  } catch (error) {
    if (error instanceof DecodeError) return reject('malformed', error.message);
    throw error;
  }
  const { claims } = decoded;
  const keyInput = await options.publicKeyOf(claims.issuer);
  if (keyInput === undefined) return reject('unknown-issuer', `no key for issuer '${claims.issuer}'`);
  let key: KeyObject;
  try {
    key = toPublicKey(keyInput);
  } catch {
    return reject('unknown-issuer', `issuer '${claims.issuer}' has no usable Ed25519 key`);
  }
  if (!verifyWithContext(TICKET_SIGNING_CONTEXT, decoded.body, decoded.signature, key)) {
    return reject('bad-signature', `signature does not verify for issuer '${claims.issuer}'`);
  }
  const ttl = claims.expiresAt - claims.issuedAt;
  if (ttl > MAX_TICKET_TTL_MS) return reject('ttl-too-long', `TTL ${ttl} ms > ${MAX_TICKET_TTL_MS} ms`);
  if (claims.audience !== options.expectedAudience) {
    return reject('wrong-audience', `ticket for '${claims.audience}', this is '${options.expectedAudience}'`);
  }
  if (!sameUuid(claims.subject, options.expectedSubject)) {
    return reject('wrong-subject', `ticket for ${claims.subject}, presented for ${options.expectedSubject}`);
  }
  if (
    options.expectedProxySessionId !== undefined &&
    claims.proxySessionId !== options.expectedProxySessionId
  ) {
    return reject(
      'wrong-session',
      `ticket for proxy session ${claims.proxySessionId}, presented on ${options.expectedProxySessionId}`,
    );
  }
  if (claims.protocolHash !== options.expectedProtocolHash) {
    return reject(
      'wrong-protocol',
      `protocol ${claims.protocolHash.toString(16)} ≠ ${options.expectedProtocolHash.toString(16)}`,
    );
  }
  const now = (options.clock ?? wallClock).now();
  const skew = options.clockSkewMs ?? 2000;
  if (now + skew < claims.notBefore)
    return reject('not-yet-valid', `valid from ${claims.notBefore}, now ${now}`);
  if (now - skew >= claims.expiresAt) return reject('expired', `expired at ${claims.expiresAt}, now ${now}`);
  const expectedDigest = options.stateDigest ?? stateDigest(options.stateBytes!);
  if (!bytesEqual(claims.stateDigest, expectedDigest)) {
    return reject('state-digest-mismatch', 'handed-off state does not match the ticket');
  }
  const fresh = await options.nonceStore.consume(ticketNonceKey(claims.nonce), claims.expiresAt + skew);
  if (!fresh) return reject('replayed', 'nonce already used');
  return { ok: true, claims };
}

/** The nonce store key of a ticket nonce (namespaced so tickets and tokens never collide). */
export function ticketNonceKey(nonce: Uint8Array): string {
  return `ticket:${toHex(nonce)}`;
}
