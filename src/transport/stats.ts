import type { TransportStats } from './types.js';

/** A zeroed counter set for one socket. */
export function createTransportStats(): TransportStats {
  return {
    datagramsSent: 0,
    datagramsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    droppedOversize: 0,
    droppedBackpressure: 0,
    droppedUnroutable: 0,
    droppedInvalid: 0,
    errors: 0,
  };
}
