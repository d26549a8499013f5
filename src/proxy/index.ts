/** Layer 6: the full proxy (client-facing listeners, backend links, relay, referral, trace). Node only. */

export { type AdminContext, type AdminOptions, AdminServer, type AdminTarget } from './admin.js';
export { BackendLink, type BackendLinkState } from './BackendLink.js';
export {
  type CapturedSession,
  captureConnect,
  captureFromBackend,
  captureFromClient,
} from './CapturedSession.js';
export * from './config/index.js';
export type { DrainOptions, DrainResult } from './drain.js';
export { ProxyMetrics, type ProxyMetricsOptions } from './metrics.js';
export { type ClientItem, FreezeBuffer, GlobalBufferBudget } from './migration/FreezeBuffer.js';
export {
  DEFAULT_MIGRATION_TIMEOUTS,
  MigrationOrchestrator,
  type MigrationResult,
  type MigrationState,
  type MigrationTimeouts,
} from './migration/MigrationOrchestrator.js';
export type { MigrationStats } from './migration/MigrationStats.js';
export {
  type PoolStatus,
  Proxy,
  type ProxyEvents,
  type ProxyMigrationOptions,
  type ProxyOptions,
  type ProxySessionInfo,
  type ProxySessionState,
  type ProxyStats,
  type ProxyTlsOptions,
} from './Proxy.js';
export { formatTrace, readTrace, type TraceRecord, TraceWriter } from './trace.js';
