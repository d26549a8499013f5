/**
 * Ed25519 key handling for tickets and referral tokens (`node:crypto`). Public keys travel as
 * the **raw 32 bytes** (registry records, config files); PEM (SPKI) and `KeyObject`s are
 * accepted wherever a key is taken.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/** A public key: raw 32 bytes, PEM (SPKI) text, or a KeyObject (a private one gives its public half). */
export type PublicKeyInput = Uint8Array | string | KeyObject;
/** A private key: PEM (PKCS#8) text or a KeyObject. */
export type PrivateKeyInput = string | KeyObject;

/** An Ed25519 key pair. */
export interface Ed25519KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The raw 32 public key bytes. */
  readonly publicKeyRaw: Uint8Array;
}

// DER prefixes of RFC 8410 structures around a raw 32-byte key
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function withPrefix(prefix: Uint8Array, key: Uint8Array): Buffer {
  const der = Buffer.alloc(prefix.length + key.length);
  der.set(prefix);
  der.set(key, prefix.length);
  return der;
}

/** Any accepted public key form → an Ed25519 public KeyObject. Throws TypeError on anything else. */
export function toPublicKey(key: PublicKeyInput): KeyObject {
  let result: KeyObject;
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new TypeError(`raw Ed25519 public key must be 32 bytes, got ${key.length}`);
    result = createPublicKey({ key: withPrefix(SPKI_PREFIX, key), format: 'der', type: 'spki' });
  } else if (typeof key === 'string') {
    result = createPublicKey(key);
  } else {
    result = key.type === 'private' ? createPublicKey(key) : key;
  }
  if (result.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 public key');
  return result;
}

/** A private key input → an Ed25519 private KeyObject. Throws TypeError on anything else. */
export function toPrivateKey(key: PrivateKeyInput): KeyObject {
  const result = typeof key === 'string' ? createPrivateKey(key) : key;
  if (result.type !== 'private' || result.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('not an Ed25519 private key');
  }
  return result;
}

/** The raw 32 bytes of a public key. */
export function rawPublicKey(key: PublicKeyInput): Uint8Array {
  const der = toPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A fresh random key pair. */
export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicKeyRaw: rawPublicKey(publicKey) };
}

/**
 * The key pair of a fixed 32-byte seed (RFC 8032 private key). Deterministic: golden-byte
 * tests and reproducible fixtures. Never use a guessable seed for a real deployment.
 */
export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new TypeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({ key: withPrefix(PKCS8_PREFIX, seed), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyRaw: rawPublicKey(publicKey) };
}

/** Sign `context ‖ body` (the context keeps a signature for one format from passing for another). */
export function signWithContext(context: Uint8Array, body: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign(null, withPrefix(context, body), key));
}

/** Verify a signature made by {@link signWithContext}. Never throws for a bad signature. */
export function verifyWithContext(
  context: Uint8Array,
  body: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    return verify(null, withPrefix(context, body), key, signature);
  } catch {
    return false;
  }
}
