import { isUuid } from '../packets/uuid.js';

export { uuidFromBytes, uuidToBytes } from '../packets/uuid.js';

/** Whether `uuid` names the same UUID as `expected` (case-insensitive; false if either is not a UUID). */
export function sameUuid(uuid: string, expected: string): boolean {
  return isUuid(uuid.toLowerCase()) && uuid.toLowerCase() === expected.toLowerCase();
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, '0');
  return hex;
}
