import { BitReader, BitWriter, DecodeError } from '../serde/index.js';
import { uuidFromBytes, uuidToBytes } from './packets/uuid.js';

/**
 * Identity tokens: what an identity issuer signs for a player and the client carries, opaque,
 * in `Connect.identityToken`. This file only knows the layout (browser-safe); signing and
 * verification live in `src/session/node/` (node:crypto).
 *
 * Layout (docs/wire/session.md): u8 version=1, uuid[16], string username (≤ 64),
 * varuint issuedAt (unix s), varuint expiresAt (unix s), string keyId (≤ 64),
 * then signature[64] = Ed25519 over every byte before it.
 */
export interface IdentityClaims {
  readonly uuid: string;
  readonly username: string;
  /** Unix seconds. */
  readonly issuedAt: number;
  /** Unix seconds. */
  readonly expiresAt: number;
  /** Which issuer key signed it. */
  readonly keyId: string;
}

export interface DecodedIdentityToken extends IdentityClaims {
  /** The bytes the signature covers. */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

export const IDENTITY_TOKEN_VERSION = 1;
export const IDENTITY_SIGNATURE_BYTES = 64;

/** The signed part of a token (what the issuer signs). */
export function encodeIdentityClaims(c: IdentityClaims): Uint8Array {
  const w = new BitWriter(128);
  w.writeU8(IDENTITY_TOKEN_VERSION);
  w.writeRaw(uuidToBytes(c.uuid));
  w.writeString(c.username, 64);
  w.writeVarUint(c.issuedAt);
  w.writeVarUint(c.expiresAt);
  w.writeString(c.keyId, 64);
  return w.finish();
}

/** Split a token into claims, signed bytes and signature. Throws {@link DecodeError}. Does not verify. */
export function decodeIdentityToken(token: Uint8Array): DecodedIdentityToken {
  if (token.length <= IDENTITY_SIGNATURE_BYTES)
    throw new DecodeError('truncated', 'identity token too short');
  const signedLength = token.length - IDENTITY_SIGNATURE_BYTES;
  const r = new BitReader(token, 0, signedLength);
  if (r.readU8() !== IDENTITY_TOKEN_VERSION) throw new DecodeError('out-of-range', 'identity token version');
  const uuid = uuidFromBytes(r.readRaw(16));
  const username = r.readString(64);
  const issuedAt = r.readVarUint();
  const expiresAt = r.readVarUint();
  const keyId = r.readString(64);
  r.expectEnd();
  return {
    uuid,
    username,
    issuedAt,
    expiresAt,
    keyId,
    signed: token.slice(0, signedLength),
    signature: token.slice(signedLength),
  };
}
