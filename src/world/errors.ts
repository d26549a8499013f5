import type { DecodeErrorCode } from '../serde/DecodeError.js';

/** Why a world frame was refused. */
export type WorldErrorCode =
  | DecodeErrorCode
  | 'unknown-component' // a component kind index the protocol does not declare
  | 'bad-entity' // an entity id out of range or naming nothing it may name
  | 'not-allowed' // the peer did something this side does not permit (e.g. client entities)
  | 'limit'; // a bound on buffered state was exceeded

/**
 * A world frame the peer should not have sent. `fatal` errors mean the peer is broken or
 * hostile (the caller should disconnect it with `message` as the reason); non-fatal ones were
 * counted and dropped.
 */
export class WorldError extends Error {
  override readonly name = 'WorldError';
  constructor(
    readonly code: WorldErrorCode,
    message: string,
    readonly fatal: boolean,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Why an authority operation or a write on a delegated entity was refused. */
export type AuthorityErrorCode =
  | 'not-delegated' // the entity is not delegated: there is no authority to request or release
  | 'not-holder' // a write on a delegated entity by someone who does not hold its authority
  | 'not-in-scope' // giving authority to a user who does not have the entity in scope
  | 'not-allowed' // the operation is not this side's to perform
  | 'despawned'; // the entity no longer exists

/** A refused authority operation or write (thrown by writes, returned by request/release). */
export class AuthorityError extends Error {
  override readonly name = 'AuthorityError';
  constructor(
    readonly code: AuthorityErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Outcome of an authority operation. */
export type AuthorityResult = { ok: true } | { ok: false; error: AuthorityError };
