/**
 * Layer 7: what several machines share — the backend registry, ticket signing keys, the nonce
 * store — plus the signed migration tickets and referral tokens built on them. In-memory
 * implementations are the defaults; a Redis implementation satisfies the same interfaces.
 * Node only (`node:crypto`).
 */

export {
  type BackendAddress,
  type BackendHealth,
  type BackendRecord,
  type BackendRegistration,
  type BackendUpdate,
  canTakePlayers,
  compareLoad,
  type PickOptions,
  type Registry,
  type RegistryEvents,
} from '../proxy/registry.js';
export { registryKeyLookup, type TicketKeys } from '../proxy/ticketKeys.js';
export * from '../session/trust/index.js';
export { checkRegistration } from './checkRegistration.js';
export {
  type CertificateAndKey,
  createDevCa,
  createDevCertificates,
  createSelfSigned,
  type DevCa,
  type DevCertificateOptions,
  type DevCertificates,
  type Validity,
  writeDevCertificates,
} from './devCertificates.js';
export { InMemoryRegistry, type InMemoryRegistryOptions } from './InMemoryRegistry.js';
export { InMemoryTicketKeys } from './InMemoryTicketKeys.js';
export {
  RedisNonceStore,
  type RedisNonceStoreOptions,
  type RedisNonceStoreStats,
} from './RedisNonceStore.js';
export { RedisRegistry, type RedisRegistryOptions, type RedisRegistryStats } from './RedisRegistry.js';
export { RedisTicketKeys } from './RedisTicketKeys.js';
export type { RedisSource, RedisStoreOptions } from './redisConnection.js';
