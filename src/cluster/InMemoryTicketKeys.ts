/** The in-memory {@link TicketKeys}: one process, also keeping the private halves. */
import type { KeyObject } from 'node:crypto';
import type { TicketKeys } from '../proxy/ticketKeys.js';
import {
  type Ed25519KeyPair,
  generateEd25519KeyPair,
  type PublicKeyInput,
  toPublicKey,
} from '../session/trust/ed25519.js';

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
