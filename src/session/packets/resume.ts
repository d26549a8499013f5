/**
 * The connectionless Resume request (client → server): a client whose transport dropped opens a
 * new one and presents, from its new address, the nonce of its original Connect and the
 * 16-byte grant the server sent it in AuthGrant (a secret only that client received). The
 * server moves the session, its link state and all, to the new address: nothing queued on
 * either side is lost, and the link's sequence numbers keep everything exactly-once.
 *
 * Layout (docs/wire/session.md): `[0x4F][envelope version][nonce u32 LE][grant 16 bytes]`, 22 bytes.
 */
import { BitReader, BitWriter, DecodeError } from '../../serde/index.js';
import { CONNECTIONLESS_VERSION } from './connectionless.js';

/** First byte of a Resume request (connectionless range 0x40..0xFF). */
export const RESUME_KIND = 0x4f;
/** Length of the grant a Resume presents. */
export const RESUME_GRANT_BYTES = 16;
/** Size of a Resume request. */
export const RESUME_BYTES = 6 + RESUME_GRANT_BYTES;

/** What a Resume request carries. */
export interface ResumeRequest {
  readonly nonce: number;
  readonly grant: Uint8Array;
}

export function encodeResume(request: ResumeRequest): Uint8Array {
  const w = new BitWriter(RESUME_BYTES);
  w.writeU8(RESUME_KIND);
  w.writeU8(CONNECTIONLESS_VERSION);
  w.writeU32(request.nonce >>> 0);
  w.writeRaw(request.grant.subarray(0, RESUME_GRANT_BYTES));
  return w.finish();
}

/** Throws {@link DecodeError} on anything but a well-formed Resume request. */
export function decodeResume(data: Uint8Array): ResumeRequest {
  if (data.length !== RESUME_BYTES) throw new DecodeError('invalid', 'Resume length');
  const r = new BitReader(data);
  if (r.readU8() !== RESUME_KIND) throw new DecodeError('invalid', 'not a Resume');
  if (r.readU8() !== CONNECTIONLESS_VERSION) throw new DecodeError('out-of-range', 'connectionless version');
  const nonce = r.readU32();
  return { nonce, grant: r.readRaw(RESUME_GRANT_BYTES).slice() };
}
