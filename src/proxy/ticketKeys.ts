/**
 * Ticket signing keys: one Ed25519 key pair per backend. The backend keeps its private key;
 * its public key is published so any backend can verify its tickets. The interface is async so
 * a shared store (Redis) can hold the public halves; the in-memory store (`src/cluster`) also keeps the
 * private halves, for one-process setups and tests.
 */
import type { KeyObject } from 'node:crypto';
import type { Ed25519KeyPair, PublicKeyInput } from '../session/trust/ed25519.js';

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

/** A `publicKeyOf` lookup reading the public keys backends registered in a registry. */
export function registryKeyLookup(registry: {
  get(id: string): Promise<{ publicKey: Uint8Array } | undefined>;
}): (backendId: string) => Promise<Uint8Array | undefined> {
  return async (backendId) => (await registry.get(backendId))?.publicKey;
}
