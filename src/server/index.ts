/** The server API (Node): `Server`, users, entities and rooms, authenticators, and the server transports. */
export {
  type AuthDecision,
  type Authenticator,
  type AuthRequest,
  OfflineAuthenticator,
} from '../session/Authenticator.js';
export {
  Ed25519Authenticator,
  type Ed25519AuthenticatorOptions,
  generateIssuerKeys,
  IdentityRejection,
  mintIdentityToken,
  rawPublicKey,
} from '../session/node/index.js';
export { RejectCode } from '../session/packets/kinds.js';
export { MemoryHub } from '../transport/browser.js';
// the Node client transports too, for bots, tools and tests running in Node
export {
  type TlsStreamClientOptions,
  type TlsStreamServerOptions,
  tlsStreamClient,
  tlsStreamServer,
  udpClient,
  udpServer,
  type WebRtcServerOptions,
  webrtcClient,
  webrtcServer,
  websocketClient,
  websocketServer,
} from '../transport/index.js';
export type { Logger } from '../util/Logger.js';
export {
  type AuthorityStatus,
  Entity,
  type ReplicationConfig,
  type ScopeExitPolicy,
  SERVER_HOLDER,
} from '../world/Entity.js';
export {
  AuthorityError,
  type AuthorityErrorCode,
  type AuthorityResult,
  WorldError,
} from '../world/errors.js';
export type { Room } from '../world/Room.js';
export { ServerWorld, type ViewCenter } from '../world/ServerWorld.js';
export type { IdentityKeys } from './authentication.js';
export { ServerMetrics } from './metrics.js';
export {
  type InterestOptions,
  type MigrationHooks,
  Server,
  type ServerDrainOptions,
  type ServerEvents,
  type ServerOptions,
  type ServerStats,
  type ServerWorldStats,
} from './Server.js';
export { User } from './User.js';
