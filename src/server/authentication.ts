import type { Authenticator } from '../session/Authenticator.js';
import { Ed25519Authenticator } from '../session/node/Ed25519Authenticator.js';
import type { PublicKeyInput } from '../session/node/keys.js';

/** Trusted identity-token issuers: Ed25519 public keys by key id. */
export type IdentityKeys = Readonly<Record<string, PublicKeyInput>>;

/**
 * The server's authenticator from its options. The default is the real path (DESIGN §2):
 * Ed25519-signed identity tokens verified against `identityKeys`. There is deliberately no
 * silent fallback to accepting any identity: a server that forgot to configure
 * authentication must not go live open, so that case is a configuration error.
 */
export function resolveAuthenticator(o: {
  authenticator?: Authenticator;
  identityKeys?: IdentityKeys;
}): Authenticator {
  if (o.authenticator && o.identityKeys) {
    throw new Error(
      'Server: pass either `authenticator` or `identityKeys`, not both (`identityKeys` builds the default Ed25519Authenticator)',
    );
  }
  if (o.authenticator) return o.authenticator;
  if (o.identityKeys) {
    if (Object.keys(o.identityKeys).length === 0) {
      throw new Error('Server: `identityKeys` is empty; every client would be rejected');
    }
    return new Ed25519Authenticator({ publicKeys: o.identityKeys });
  }
  throw new Error(
    'Server: no authentication configured. Pass `identityKeys` (Ed25519 issuer public keys by key id, ' +
      'to verify signed identity tokens) or `authenticator` (your own Authenticator; for development, ' +
      '`authenticator: new OfflineAuthenticator()` accepts any identity).',
  );
}
