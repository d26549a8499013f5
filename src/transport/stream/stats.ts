import type { StreamServerStats, StreamStats } from './types.js';

/** A zeroed counter set for one stream connection. */
export function createStreamStats(): StreamStats {
  return {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    refusedBackpressure: 0,
    refusedClosed: 0,
    closedOversize: 0,
    closedInvalid: 0,
    errors: 0,
    handlerErrors: 0,
  };
}

/** A zeroed counter set for one stream server. */
export function createStreamServerStats(): StreamServerStats {
  return { connectionsAccepted: 0, handshakeFailures: 0, connectionsRefused: 0, protocolErrors: 0 };
}
