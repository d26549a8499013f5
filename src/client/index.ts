/** The client API (browser-safe): `Client`, its errors, and the browser-safe transports. */
export type { AcceptInfo, ServerProof } from '../session/ClientSession.js';
export { ConnectError, type ConnectErrorKind } from '../session/ConnectError.js';
export { RejectCode } from '../session/packets/kinds.js';
export { browserWebSocketClient, MemoryHub } from '../transport/browser.js';
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  type ClientStats,
  type ConnectOptions,
} from './Client.js';
