/**
 * The stream server authenticated us and then refused the connection with a reason, before
 * accepting it (a CLOSE frame before READY): a policy or configuration verdict such as a proxy
 * certificate outside a backend's allow-list — not a lost or unreachable peer.
 */
export class StreamRefusedError extends Error {
  override readonly name = 'StreamRefusedError';

  constructor(
    /** The server's reason, as it sent it. */
    readonly reason: string,
  ) {
    super(`the server refused the connection: ${reason}`);
  }
}
