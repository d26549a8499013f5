import { sign } from 'node:crypto';
import { encodeIdentityClaims, type IdentityClaims } from '../IdentityToken.js';
import { type PrivateKeyInput, toPrivateKey } from './keys.js';

/** What {@link mintIdentityToken} takes. */
export interface MintOptions {
  readonly uuid: string;
  readonly username: string;
  /** Key id the verifier looks the public key up by. */
  readonly keyId: string;
  readonly privateKey: PrivateKeyInput;
  /** Unix seconds; default now. */
  readonly issuedAt?: number;
  /** Unix seconds; default issuedAt + ttlSeconds. */
  readonly expiresAt?: number;
  /** Default 3600. */
  readonly ttlSeconds?: number;
}

/**
 * Mint an Ed25519-signed identity token (node-only: issuers and tests). The client carries the
 * bytes as `identityToken`; the server's `Ed25519Authenticator` verifies them.
 */
export function mintIdentityToken(o: MintOptions): Uint8Array {
  const issuedAt = o.issuedAt ?? Math.floor(Date.now() / 1000);
  const claims: IdentityClaims = {
    uuid: o.uuid.toLowerCase(),
    username: o.username,
    issuedAt,
    expiresAt: o.expiresAt ?? issuedAt + (o.ttlSeconds ?? 3600),
    keyId: o.keyId,
  };
  const signed = encodeIdentityClaims(claims);
  const signature = sign(null, signed, toPrivateKey(o.privateKey));
  const out = new Uint8Array(signed.length + signature.length);
  out.set(signed);
  out.set(signature, signed.length);
  return out;
}
