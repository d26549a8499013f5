/** Layer 6: the full proxy (client-facing listeners, backend links, relay, referral, trace). Node only. */
export { BackendLink, type BackendLinkState } from './BackendLink.js';
export {
  type CapturedSession,
  captureConnect,
  captureFromBackend,
  captureFromClient,
} from './CapturedSession.js';
export {
  type PoolStatus,
  Proxy,
  type ProxyEvents,
  type ProxyOptions,
  type ProxySessionInfo,
  type ProxySessionState,
  type ProxyStats,
  type ProxyTlsOptions,
} from './Proxy.js';
export { formatTrace, readTrace, type TraceRecord, TraceWriter } from './trace.js';
