/**
 * The browser-safe part of layer 1: contracts, the in-memory hub and its link conditioner,
 * and the WebSocket client over the global `WebSocket`. No `node:` or `ws` imports here.
 */
export {
  type BrowserWebSocketClientOptions,
  browserWebSocketClient,
  type WebSocketConstructor,
  type WebSocketLike,
} from './BrowserWebSocketTransport.js';
export {
  type LinkConditionerConfig,
  type LinkConditions,
  type LinkDirection,
  PERFECT_LINK,
  planDelivery,
  resolveConditions,
} from './LinkConditioner.js';
export {
  type LinkCounters,
  type MemoryClientOptions,
  MemoryClientSocket,
  MemoryClientTransport,
  MemoryHub,
  type MemoryHubOptions,
  MemoryLink,
  MemoryServerSocket,
  MemoryServerTransport,
  type PartitionDirection,
} from './MemoryHub.js';
export { createTransportStats } from './stats.js';
export type {
  DatagramClientSocket,
  DatagramClientTransport,
  DatagramServerSocket,
  DatagramServerTransport,
  PeerId,
  TransportAddress,
  TransportStats,
} from './types.js';
export {
  browserWebRtcClient,
  type RtcDataChannelLike,
  type RtcPeerConnectionConstructor,
  type RtcPeerConnectionLike,
  type SignallingSocketConstructor,
  type SignallingSocketLike,
  type WebRtcClientOptions,
} from './WebRtcClientTransport.js';
export {
  resolveWebSocketUrl,
  WS_DEFAULT_MAX_BUFFERED,
  WS_DEFAULT_MAX_PAYLOAD,
  websocketUrl,
} from './wsCommon.js';
