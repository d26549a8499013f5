import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A public key as accepted by the node helpers: a KeyObject, PEM text, or the raw 32 bytes. */
export type PublicKeyInput = KeyObject | string | Uint8Array;
/** A private key: a KeyObject or PEM text. */
export type PrivateKeyInput = KeyObject | string;

// SubjectPublicKeyInfo prefix for a raw Ed25519 key (RFC 8410)
const ED25519_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

/** Normalise any accepted public key form to an Ed25519 KeyObject. */
export function toPublicKey(key: PublicKeyInput): KeyObject {
  if (typeof key === 'string') return createPublicKey(key);
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new Error('raw Ed25519 public key must be 32 bytes');
    const der = new Uint8Array(ED25519_SPKI_PREFIX.length + 32);
    der.set(ED25519_SPKI_PREFIX);
    der.set(key, ED25519_SPKI_PREFIX.length);
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  }
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** Normalise a private key to a KeyObject. */
export function toPrivateKey(key: PrivateKeyInput): KeyObject {
  return typeof key === 'string' ? createPrivateKey(key) : key;
}

/** The raw 32 public key bytes (for configuration files, browsers). */
export function rawPublicKey(key: PublicKeyInput): Uint8Array {
  const der = toPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A fresh Ed25519 issuer key pair with its key id. */
export interface IssuerKeys {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Generate an Ed25519 key pair for an identity issuer (or a server's own identity). */
export function generateIssuerKeys(keyId: string): IssuerKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId, privateKey, publicKey };
}
