import type { RejectCode } from './packets/kinds.js';

/** Why `connect()` failed. */
export type ConnectErrorKind =
  /** The server refused: see `rejectCode` and `reason`. */
  | 'rejected'
  /** No complete handshake within the handshake timeout. */
  | 'timeout'
  /** The transport or the client closed during the handshake. */
  | 'closed'
  /** The server's answer to the client's grant did not verify. */
  | 'server-auth-failed';

/** The error `Client.connect()` rejects with. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(
    readonly kind: ConnectErrorKind,
    /** Human-readable reason (the server's, for `rejected`). */
    readonly reason: string,
    /** The server's reject code, for `rejected`. */
    readonly rejectCode?: RejectCode,
  ) {
    super(`connect ${kind}: ${reason}`);
  }
}
