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
