/**
 * Why a decode failed. Every malformed input from the network maps to one of these codes,
 * so callers can count drops by kind instead of parsing messages.
 */
export type DecodeErrorCode =
  | 'truncated' // a read ran past the end of the buffer
  | 'overflow' // a varint had too many groups or exceeded 2^53 - 1
  | 'too-long' // a length prefix exceeded the declared maximum
  | 'invalid-utf8' // string bytes were not valid UTF-8
  | 'out-of-range' // a value outside what the type allows (enum tag, kind id, …)
  | 'trailing' // bytes left over where a message must end exactly
  | 'invalid'; // any other structural violation

/** The one error type decoders throw. Anything else escaping a decoder is a bug. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Thrown when local code asks to encode a value its declared type cannot hold (a programming error). */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
}
