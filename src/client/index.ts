/** The client API (browser-safe): `Client`, entities, its errors, and the browser-safe transports. */
export type { AcceptInfo, ServerProof } from '../session/ClientSession.js';
export { ConnectError, type ConnectErrorKind } from '../session/ConnectError.js';
export { RejectCode } from '../session/packets/kinds.js';
export {
  browserWebRtcClient,
  browserWebSocketClient,
  MemoryHub,
  type WebRtcClientOptions,
  type WebSocketConstructor,
} from '../transport/browser.js';
export { ClientWorld } from '../world/ClientWorld.js';
export { type AuthorityStatus, Entity, type ReplicationConfig } from '../world/Entity.js';
export {
  AuthorityError,
  type AuthorityErrorCode,
  type AuthorityResult,
  WorldError,
} from '../world/errors.js';
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  type ClientStats,
  type ClientWorldStats,
  type ConnectOptions,
  type MigratedInfo,
} from './Client.js';
export { DEFAULT_MIGRATION_GATE_BOUNDS, MigrationGate, type MigrationGateBounds } from './MigrationGate.js';
