import type { BackendAddress } from '../proxy/registry.js';

/** Throws a RangeError when a registration or update carries an impossible capacity, load or port. */
export function checkRegistration(r: { capacity?: number; load?: number; address?: BackendAddress }): void {
  if (r.capacity !== undefined && !(Number.isInteger(r.capacity) && r.capacity >= 0)) {
    throw new RangeError(`capacity must be a non-negative integer, got ${r.capacity}`);
  }
  if (r.load !== undefined && !(Number.isInteger(r.load) && r.load >= 0)) {
    throw new RangeError(`load must be a non-negative integer, got ${r.load}`);
  }
  if (
    r.address !== undefined &&
    !(Number.isInteger(r.address.port) && r.address.port > 0 && r.address.port < 65536)
  ) {
    throw new RangeError(`port must be 1..65535, got ${r.address.port}`);
  }
}
