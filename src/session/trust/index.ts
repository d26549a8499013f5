/**
 * Signed trust material shared by proxies and backends (Node only, `node:crypto`): Ed25519
 * keys, single-use migration tickets, signed referral tokens, and the nonce store contract
 * with its in-memory default. It sits in the session layer because a backend's `Server`
 * verifies tickets and a proxy verifies referrals; `src/cluster` provides shared stores.
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
