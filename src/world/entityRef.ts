import { EncodeError } from '../serde/DecodeError.js';
import type { PropType } from '../serde/types.js';
import type { GlobalEntity } from './ids.js';

/**
 * The property type of an entity reference. Its value is the id of an entity in the *local*
 * world (`GlobalEntity` on the server, the client's own entity id on a client) or `null`.
 * On the wire it becomes the per-connection compact id of the target (see docs/wire/world.md),
 * so it only works inside replicated components; the world layer encodes it, not the codec.
 */
export interface EntityRefType extends PropType<GlobalEntity | null> {
  readonly entityRef: true;
}

const notHere = (): never => {
  throw new EncodeError('entity references are encoded by the world layer only (use them in components)');
};

/** `component('Follow', { target: entityRef })` */
export const entityRef: EntityRefType = {
  id: 'entity',
  entityRef: true,
  default: null,
  write: notHere,
  read: notHere,
  equals: (a, b) => a === b,
  clone: (v) => v,
};

export function isEntityRef(p: PropType<unknown>): p is EntityRefType {
  return (p as Partial<EntityRefType>).entityRef === true;
}
