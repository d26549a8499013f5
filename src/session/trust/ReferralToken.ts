/**
 * Referral tokens: the signed `data` of a `ClientReferral` packet (DESIGN.md §2, §5 "Failed").
 * A backend (or a proxy falling back) tells a client to reconnect elsewhere and hands it this
 * token; the target verifies it when the client's `Connect` carries it as `referralData`.
 * The whole token is at most 4096 bytes, the limit of `referralData`. Layout: docs/wire/cluster.md.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import { BitReader } from '../../serde/BitReader.js';
import { BitWriter } from '../../serde/BitWriter.js';
import { DecodeError, EncodeError } from '../../serde/DecodeError.js';
import type { Clock } from '../../util/Clock.js';
import { wallClock } from './clock.js';
import {
  type PrivateKeyInput,
  signWithContext,
  toPrivateKey,
  toPublicKey,
  verifyWithContext,
} from './ed25519.js';
import { MAX_BACKEND_ID_BYTES, type PublicKeyLookup, SIGNATURE_BYTES } from './MigrationTicket.js';
import type { NonceStore } from './NonceStore.js';
import { sameUuid, toHex, uuidFromBytes, uuidToBytes } from './uuid.js';

/** Largest token, all included: the `referralData` limit of the session layer. */
export const REFERRAL_TOKEN_MAX_BYTES = 4096;
/** Format version, the token's first byte. */
export const REFERRAL_TOKEN_VERSION = 1;
/** Signed before the body (see `TICKET_SIGNING_CONTEXT`). */
export const REFERRAL_SIGNING_CONTEXT = new TextEncoder().encode('baton/referral-token/v1\0');
/** Default and largest lifetime accepted by {@link issueReferralToken}/{@link verifyReferralToken}: 60 s. */
export const DEFAULT_REFERRAL_MAX_TTL_MS = 60_000;

/** What a referral token asserts. Times are wall-clock ms since the Unix epoch. */
export interface ReferralTokenClaims {
  /** Backend id of the signer (the referring backend). */
  readonly issuer: string;
  /** Backend id the client is sent to. */
  readonly targetBackendId: string;
  /** The client's UUID. */
  readonly subject: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** 16 random bytes (single use when the verifier passes a nonce store). */
  readonly nonce: Uint8Array;
  /** Application data for the target (e.g. party or match id). */
  readonly data: Uint8Array;
}

/** Why a referral token was refused. */
export type ReferralRejection =
  | 'malformed'
  | 'unknown-issuer'
  | 'bad-signature'
  | 'ttl-too-long'
  | 'wrong-target'
  | 'wrong-subject'
  | 'not-yet-valid'
  | 'expired'
  | 'replayed';

/** The result of {@link verifyReferralToken}. */
export type ReferralVerdict =
  | { readonly ok: true; readonly claims: ReferralTokenClaims }
  | { readonly ok: false; readonly reason: ReferralRejection; readonly detail: string };

function encodeBody(claims: ReferralTokenClaims): Uint8Array {
  if (claims.issuer.length === 0 || claims.targetBackendId.length === 0) {
    throw new EncodeError('backend ids must not be empty');
  }
  if (claims.nonce.length !== 16) throw new EncodeError('nonce must be 16 bytes');
  if (!(claims.expiresAt >= claims.issuedAt)) throw new EncodeError('expiresAt before issuedAt');
  const w = new BitWriter(128 + claims.data.length);
  w.writeU8(REFERRAL_TOKEN_VERSION);
  w.writeString(claims.issuer, MAX_BACKEND_ID_BYTES);
  w.writeString(claims.targetBackendId, MAX_BACKEND_ID_BYTES);
  w.writeRaw(uuidToBytes(claims.subject));
  w.writeRaw(claims.nonce);
  w.writeVarUint(claims.issuedAt);
  w.writeVarUint(claims.expiresAt - claims.issuedAt);
  w.writeBytes(claims.data, REFERRAL_TOKEN_MAX_BYTES);
  return w.finish();
}

/** Options of {@link issueReferralToken}. */
export interface IssueReferralOptions {
  /** Refuse claims living longer than this. Default {@link DEFAULT_REFERRAL_MAX_TTL_MS}. */
  maxTtlMs?: number;
}

/**
 * Sign a referral token. Throws EncodeError if the result would exceed
 * {@link REFERRAL_TOKEN_MAX_BYTES} (too much app data), the TTL is zero or above `maxTtlMs`,
 * or a field has the wrong shape.
 */
export function issueReferralToken(
  claims: ReferralTokenClaims,
  privateKey: PrivateKeyInput,
  options: IssueReferralOptions = {},
): Uint8Array {
  const maxTtl = options.maxTtlMs ?? DEFAULT_REFERRAL_MAX_TTL_MS;
  const ttl = claims.expiresAt - claims.issuedAt;
  if (!(ttl > 0 && ttl <= maxTtl)) throw new EncodeError(`referral TTL ${ttl} ms outside (0, ${maxTtl}]`);
  const body = encodeBody(claims);
  if (body.length + SIGNATURE_BYTES > REFERRAL_TOKEN_MAX_BYTES) {
    throw new EncodeError(
      `referral token of ${body.length + SIGNATURE_BYTES} bytes exceeds ${REFERRAL_TOKEN_MAX_BYTES}`,
    );
  }
  const signature = signWithContext(REFERRAL_SIGNING_CONTEXT, body, toPrivateKey(privateKey));
  const out = new Uint8Array(body.length + SIGNATURE_BYTES);
  out.set(body);
  out.set(signature, body.length);
  return out;
}

/** Inputs of {@link createReferralClaims}. */
export interface ReferralRequest {
  issuer: string;
  targetBackendId: string;
  subject: string;
  data?: Uint8Array;
  /** Default 30 000 ms. */
  ttlMs?: number;
  clock?: Clock;
}

/** Claims with a fresh nonce and `issuedAt = now`. */
export function createReferralClaims(request: ReferralRequest): ReferralTokenClaims {
  const now = Math.floor((request.clock ?? wallClock).now());
  return {
    issuer: request.issuer,
    targetBackendId: request.targetBackendId,
    subject: request.subject,
    issuedAt: now,
    expiresAt: now + (request.ttlMs ?? 30_000),
    nonce: new Uint8Array(randomBytes(16)),
    data: request.data ?? new Uint8Array(0),
  };
}

/** Parse a token without verifying anything. Throws only {@link DecodeError}. */
export function decodeReferralToken(bytes: Uint8Array): {
  claims: ReferralTokenClaims;
  body: Uint8Array;
  signature: Uint8Array;
} {
  if (bytes.length > REFERRAL_TOKEN_MAX_BYTES)
    throw new DecodeError('too-long', `token of ${bytes.length} bytes`);
  const r = new BitReader(bytes);
  const version = r.readU8();
  if (version !== REFERRAL_TOKEN_VERSION)
    throw new DecodeError('out-of-range', `referral token version ${version}`);
  const issuer = r.readString(MAX_BACKEND_ID_BYTES);
  const targetBackendId = r.readString(MAX_BACKEND_ID_BYTES);
  if (issuer.length === 0 || targetBackendId.length === 0)
    throw new DecodeError('invalid', 'empty backend id');
  const subject = uuidFromBytes(r.readRaw(16));
  const nonce = r.readRaw(16);
  const issuedAt = r.readVarUint();
  const ttl = r.readVarUint();
  if (issuedAt + ttl > Number.MAX_SAFE_INTEGER) throw new DecodeError('overflow', 'expiresAt');
  const data = r.readBytes(REFERRAL_TOKEN_MAX_BYTES);
  const bodyLength = r.position >>> 3;
  const signature = r.readRaw(SIGNATURE_BYTES);
  r.expectEnd();
  return {
    claims: { issuer, targetBackendId, subject, issuedAt, expiresAt: issuedAt + ttl, nonce, data },
    body: bytes.slice(0, bodyLength),
    signature,
  };
}

/** What the target expects. */
export interface VerifyReferralOptions {
  /** The verifying backend's id. */
  expectedTarget: string;
  /** If given, the UUID of the connecting client. */
  expectedSubject?: string;
  publicKeyOf: PublicKeyLookup;
  /** If given, each token is accepted once (its nonce is remembered until it expires). */
  nonceStore?: NonceStore;
  clock?: Clock;
  /** Default 2000 ms. */
  clockSkewMs?: number;
  /** Refuse tokens whose lifetime exceeds this. Default {@link DEFAULT_REFERRAL_MAX_TTL_MS}. */
  maxTtlMs?: number;
}

function refuse(reason: ReferralRejection, detail: string): ReferralVerdict {
  return { ok: false, reason, detail };
}

/**
 * Check a referral token: shape, issuer, signature (nothing else is trusted before it), TTL,
 * target, subject, validity window, then the nonce. Never throws for bad token bytes; errors of
 * `publicKeyOf` / the nonce store propagate.
 */
export async function verifyReferralToken(
  bytes: Uint8Array,
  options: VerifyReferralOptions,
): Promise<ReferralVerdict> {
  let decoded: ReturnType<typeof decodeReferralToken>;
  try {
    decoded = decodeReferralToken(bytes);
  } catch (error) {
    if (error instanceof DecodeError) return refuse('malformed', error.message);
    throw error;
  }
  const { claims } = decoded;
  const keyInput = await options.publicKeyOf(claims.issuer);
  if (keyInput === undefined) return refuse('unknown-issuer', `no key for issuer '${claims.issuer}'`);
  let key: KeyObject;
  try {
    key = toPublicKey(keyInput);
  } catch {
    return refuse('unknown-issuer', `issuer '${claims.issuer}' has no usable Ed25519 key`);
  }
  if (!verifyWithContext(REFERRAL_SIGNING_CONTEXT, decoded.body, decoded.signature, key)) {
    return refuse('bad-signature', `signature does not verify for issuer '${claims.issuer}'`);
  }
  const maxTtl = options.maxTtlMs ?? DEFAULT_REFERRAL_MAX_TTL_MS;
  const ttl = claims.expiresAt - claims.issuedAt;
  if (ttl > maxTtl) return refuse('ttl-too-long', `TTL ${ttl} ms > ${maxTtl} ms`);
  if (claims.targetBackendId !== options.expectedTarget) {
    return refuse(
      'wrong-target',
      `token for '${claims.targetBackendId}', this is '${options.expectedTarget}'`,
    );
  }
  if (options.expectedSubject !== undefined && !sameUuid(claims.subject, options.expectedSubject)) {
    return refuse('wrong-subject', `token for ${claims.subject}, presented by ${options.expectedSubject}`);
  }
  const now = (options.clock ?? wallClock).now();
  const skew = options.clockSkewMs ?? 2000;
  if (now + skew < claims.issuedAt)
    return refuse('not-yet-valid', `issued at ${claims.issuedAt}, now ${now}`);
  if (now - skew >= claims.expiresAt) return refuse('expired', `expired at ${claims.expiresAt}, now ${now}`);
  if (options.nonceStore) {
    const fresh = await options.nonceStore.consume(
      `referral:${toHex(claims.nonce)}`,
      claims.expiresAt + skew,
    );
    if (!fresh) return refuse('replayed', 'nonce already used');
  }
  return { ok: true, claims };
}
