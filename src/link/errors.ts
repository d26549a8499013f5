/**
 * Thrown by `LinkConnection.send` when accepting the message would push the connection's
 * reliable backlog (queued + unacknowledged + acknowledged-but-held-behind-a-gap bytes) above
 * `maxPendingBytes`. The caller should slow down, drop, or disconnect the peer.
 */
export class LinkBackpressureError extends Error {
  override readonly name = 'LinkBackpressureError';
  constructor(
    readonly pendingBytes: number,
    readonly messageBytes: number,
    readonly maxPendingBytes: number,
  ) {
    super(`link backlog ${pendingBytes} + ${messageBytes} bytes would exceed ${maxPendingBytes}`);
  }
}

/** A local programming error: unknown channel, wrong direction, missing tick, bad option. */
export class LinkUsageError extends Error {
  override readonly name = 'LinkUsageError';
}
