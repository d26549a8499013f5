/** The server API (Node): `Server`, users, authenticators, and the server transports. */
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
export { udpServer, websocketServer } from '../transport/index.js';
export { Server, type ServerEvents, type ServerOptions, type ServerStats } from './Server.js';
export { User } from './User.js';
