import { type KeyObject, sign, verify } from 'node:crypto';
import { DecodeError } from '../../serde/index.js';
import { type AuthDecision, type Authenticator, type AuthRequest, grantEchoed } from '../Authenticator.js';
import { decodeIdentityToken } from '../IdentityToken.js';
import { uuidToBytes } from '../packets/uuid.js';
import { type PrivateKeyInput, type PublicKeyInput, toPrivateKey, toPublicKey } from './keys.js';

/** Options of {@link Ed25519Authenticator}. */
export interface Ed25519AuthenticatorOptions {
  /** Trusted issuer public keys by key id. */
  readonly publicKeys: Readonly<Record<string, PublicKeyInput>>;
  /** Wall clock in ms since the epoch (default `Date.now`); tokens carry unix seconds. */
  readonly now?: () => number;
  /** Tolerated clock difference with the issuer, seconds (default 30). */
  readonly clockSkewSeconds?: number;
  /**
   * The server's own identity, for the mutual half of the exchange: its token goes out in
   * AuthGrant.serverIdentityToken and its key signs ServerAuthToken.serverAccessToken over
   * (context ‖ client grant ‖ server grant ‖ client uuid), which a client holding the issuer's
   * public key can check.
   */
  readonly serverIdentity?: { readonly token: Uint8Array; readonly privateKey: PrivateKeyInput };
}

/** Distinct rejection reasons (the client sees them in ConnectReject.reason). */
export const IdentityRejection = {
  missing: 'identity token missing',
  malformed: 'identity token malformed',
  unknownKey: 'identity token signed by an unknown key',
  badSignature: 'identity token signature invalid',
  expired: 'identity token expired',
  notYetValid: 'identity token not yet valid',
  uuidMismatch: 'identity token uuid mismatch',
  usernameMismatch: 'identity token username mismatch',
  badAccessToken: 'access token does not answer the grant',
} as const;

const SERVER_AUTH_CONTEXT = new TextEncoder().encode('baton-server-auth-v1');

/**
 * Verifies Ed25519-signed identity tokens (see `IdentityToken.ts`) against configured issuer
 * public keys. Runs after the client has answered the grant, so the (comparatively costly)
 * signature check is only spent on peers that proved they receive at their address.
 */
export class Ed25519Authenticator implements Authenticator {
  private readonly keys = new Map<string, KeyObject>();
  private readonly now: () => number;
  private readonly skew: number;
  private readonly server?: { token: Uint8Array; key: KeyObject };

  constructor(options: Ed25519AuthenticatorOptions) {
    for (const [id, key] of Object.entries(options.publicKeys)) this.keys.set(id, toPublicKey(key));
    this.now = options.now ?? Date.now;
    this.skew = options.clockSkewSeconds ?? 30;
    if (options.serverIdentity) {
      this.server = {
        token: options.serverIdentity.token,
        key: toPrivateKey(options.serverIdentity.privateKey),
      };
    }
  }

  serverIdentityToken(): Uint8Array {
    return this.server?.token ?? new Uint8Array(0);
  }

  authenticate(request: AuthRequest): AuthDecision {
    if (!grantEchoed(request)) return { ok: false, reason: IdentityRejection.badAccessToken };
    const raw = request.connect.identityToken;
    if (!raw || raw.length === 0) return { ok: false, reason: IdentityRejection.missing };
    let token: ReturnType<typeof decodeIdentityToken>;
    try {
      token = decodeIdentityToken(raw);
    } catch (e) {
      if (e instanceof DecodeError) return { ok: false, reason: IdentityRejection.malformed };
      throw e;
    }
    const key = this.keys.get(token.keyId);
    if (!key) return { ok: false, reason: IdentityRejection.unknownKey };
    if (!verify(null, token.signed, key, token.signature))
      return { ok: false, reason: IdentityRejection.badSignature };
    const nowSeconds = Math.floor(this.now() / 1000);
    if (nowSeconds > token.expiresAt + this.skew) return { ok: false, reason: IdentityRejection.expired };
    if (nowSeconds + this.skew < token.issuedAt) return { ok: false, reason: IdentityRejection.notYetValid };
    if (token.uuid !== request.connect.uuid) return { ok: false, reason: IdentityRejection.uuidMismatch };
    if (token.username !== request.connect.username) {
      return { ok: false, reason: IdentityRejection.usernameMismatch };
    }
    return { ok: true, serverAccessToken: this.serverAccessToken(request) };
  }

  private serverAccessToken(request: AuthRequest): Uint8Array {
    const clientGrant = request.authToken.serverAuthorizationGrant;
    if (!this.server) return clientGrant.slice();
    return new Uint8Array(sign(null, serverAuthMessage(request), this.server.key));
  }
}

/** What a server identity signs in ServerAuthToken (exported so node clients can verify it). */
export function serverAuthMessage(
  request: Pick<AuthRequest, 'authorizationGrant' | 'authToken' | 'connect'>,
): Uint8Array {
  const parts = [
    SERVER_AUTH_CONTEXT,
    request.authToken.serverAuthorizationGrant,
    request.authorizationGrant,
    uuidToBytes(request.connect.uuid),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
