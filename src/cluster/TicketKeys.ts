/**
 * Ticket signing keys: one Ed25519 key pair per backend. The backend keeps its private key;
 * its public key is published so any backend can verify its tickets. The interface is async so
 * a shared store (Redis) can hold the public halves; {@link InMemoryTicketKeys} also keeps the
 * private halves, for one-process setups and tests.
 */
import type { KeyObject } from 'node:crypto';
import { type Ed25519KeyPair, generateEd25519KeyPair, type PublicKeyInput, toPublicKey } from './ed25519.js';

/** Publishes and looks up backends' ticket public keys. */
export interface TicketKeys {
  /** Make a fresh key pair for `backendId`, publish its public key (replacing any) and return the pair. */
  generate(backendId: string): Promise<Ed25519KeyPair>;
  /** Publish a public key made elsewhere (raw 32 bytes, PEM or KeyObject). */
  publish(backendId: string, publicKey: PublicKeyInput): Promise<void>;
  /** The published public key, or undefined. Fits `verifyTicket`'s `publicKeyOf`. */
  publicKeyOf(backendId: string): Promise<KeyObject | undefined>;
  /** Withdraw a backend's key (its tickets stop verifying). False if there was none. */
  remove(backendId: string): Promise<boolean>;
}

/** Key store in this process's memory. */
export class InMemoryTicketKeys implements TicketKeys {
  private readonly publicKeys = new Map<string, KeyObject>();
  private readonly pairs = new Map<string, Ed25519KeyPair>();

  async generate(backendId: string): Promise<Ed25519KeyPair> {
    const pair = generateEd25519KeyPair();
    this.pairs.set(backendId, pair);
    this.publicKeys.set(backendId, pair.publicKey);
    return pair;
  }

  async publish(backendId: string, publicKey: PublicKeyInput): Promise<void> {
    const key = toPublicKey(publicKey);
    this.publicKeys.set(backendId, key);
    const pair = this.pairs.get(backendId);
    // a different published key means the locally held pair is no longer the backend's
    if (pair && !pair.publicKey.equals(key)) this.pairs.delete(backendId);
  }

  async publicKeyOf(backendId: string): Promise<KeyObject | undefined> {
    return this.publicKeys.get(backendId);
  }

  /** The key pair generated here for `backendId` (this process only), or undefined. */
  keyPairOf(backendId: string): Ed25519KeyPair | undefined {
    return this.pairs.get(backendId);
  }

  async remove(backendId: string): Promise<boolean> {
    this.pairs.delete(backendId);
    return this.publicKeys.delete(backendId);
  }
}

/** A `publicKeyOf` lookup reading the public keys backends registered in a registry. */
export function registryKeyLookup(registry: {
  get(id: string): Promise<{ publicKey: Uint8Array } | undefined>;
}): (backendId: string) => Promise<Uint8Array | undefined> {
  return async (backendId) => (await registry.get(backendId))?.publicKey;
}
