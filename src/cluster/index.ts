/**
 * Layer 7: what several machines share — the backend registry, ticket signing keys, the nonce
 * store — plus the signed migration tickets and referral tokens built on them. In-memory
 * implementations are the defaults; a Redis implementation satisfies the same interfaces.
 * Node only (`node:crypto`).
 */
export { wallClock } from './clock.js';
export {
  type Ed25519KeyPair,
  ed25519KeyPairFromSeed,
  generateEd25519KeyPair,
  type PrivateKeyInput,
  type PublicKeyInput,
  rawPublicKey,
  toPrivateKey,
  toPublicKey,
} from './ed25519.js';
export {
  createTicketClaims,
  type DecodedTicket,
  decodeTicket,
  encodeTicketBody,
  issueTicket,
  MAX_BACKEND_ID_BYTES,
  MAX_TICKET_TTL_MS,
  type MigrationTicketClaims,
  type PublicKeyLookup,
  SIGNATURE_BYTES,
  stateDigest,
  TICKET_MAX_BYTES,
  TICKET_SIGNING_CONTEXT,
  TICKET_VERSION,
  type TicketRejection,
  type TicketRequest,
  type TicketVerdict,
  ticketNonceKey,
  type VerifyTicketOptions,
  verifyTicket,
} from './MigrationTicket.js';
export {
  InMemoryNonceStore,
  type InMemoryNonceStoreOptions,
  type NonceStore,
  type NonceStoreStats,
} from './NonceStore.js';
export {
  createReferralClaims,
  DEFAULT_REFERRAL_MAX_TTL_MS,
  decodeReferralToken,
  type IssueReferralOptions,
  issueReferralToken,
  REFERRAL_SIGNING_CONTEXT,
  REFERRAL_TOKEN_MAX_BYTES,
  REFERRAL_TOKEN_VERSION,
  type ReferralRejection,
  type ReferralRequest,
  type ReferralTokenClaims,
  type ReferralVerdict,
  type VerifyReferralOptions,
  verifyReferralToken,
} from './ReferralToken.js';
export {
  type BackendAddress,
  type BackendHealth,
  type BackendRecord,
  type BackendRegistration,
  type BackendUpdate,
  canTakePlayers,
  compareLoad,
  InMemoryRegistry,
  type InMemoryRegistryOptions,
  type PickOptions,
  type Registry,
  type RegistryEvents,
} from './Registry.js';
export { InMemoryTicketKeys, registryKeyLookup, type TicketKeys } from './TicketKeys.js';
