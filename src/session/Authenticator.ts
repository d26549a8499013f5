import type { AuthTokenPacket, ConnectPacket } from './packets/types.js';

/** What the server knows when it asks an {@link Authenticator} to decide. */
export interface AuthRequest {
  /** The client's well-formed Connect. */
  readonly connect: ConnectPacket;
  /** Transport address of the peer, for logging/rate policy ("udp:127.0.0.1:5000"). */
  readonly address: string;
  /** The grant the server issued in AuthGrant (16 random bytes, fresh per attempt). */
  readonly authorizationGrant: Uint8Array;
  /** The client's answer. */
  readonly authToken: AuthTokenPacket;
}

/** An Authenticator's verdict. */
export type AuthDecision =
  | {
      readonly ok: true;
      /** Sent to the client as ServerAuthToken.serverAccessToken (default: echo of its grant). */
      readonly serverAccessToken?: Uint8Array;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Server-side verification of a client's identity, driven by the mutual exchange
 * AuthGrant → AuthToken → ServerAuthToken. Pluggable: the built-ins are
 * {@link OfflineAuthenticator} (any identity) and `Ed25519Authenticator` (node-only, signed
 * identity tokens; `src/session/node`).
 *
 * The session treats a successful decision as proof that the client receives packets at its
 * address (it unlocks full-rate sending); an implementation must therefore bind the
 * AuthToken to the grant it answers — see {@link grantEchoed}.
 *
 * May return a promise (e.g. to ask an external service); the handshake waits, bounded by the
 * server's handshake timeout.
 */
export interface Authenticator {
  /** AuthGrant.serverIdentityToken for this client (default: empty). */
  serverIdentityToken?(connect: ConnectPacket): Uint8Array;
  authenticate(request: AuthRequest): AuthDecision | Promise<AuthDecision>;
}

/** Whether the client's accessToken is the server's grant echoed (the built-in redemption). */
export function grantEchoed(request: AuthRequest): boolean {
  return bytesEqual(request.authToken.accessToken, request.authorizationGrant);
}

/** Accepts any identity, as long as the client answered this server's grant. For development and trusted networks. */
export class OfflineAuthenticator implements Authenticator {
  authenticate(request: AuthRequest): AuthDecision {
    if (!grantEchoed(request)) return { ok: false, reason: 'access token does not answer the grant' };
    return { ok: true };
  }
}

/** Constant-time-ish equality of two byte arrays (length leaks, contents do not). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
