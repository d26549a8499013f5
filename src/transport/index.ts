/**
 * Layer 1: datagram transports (UDP, WebSocket, WebRTC data channels, in-memory with a seeded link
 * conditioner).
 * Node only because of UDP and `ws`; browsers import `./browser.js` instead.
 */
export * from './browser.js';
export * from './stream/index.js';
export {
  formatUdpPeer,
  parseUdpPeer,
  UDP_MAX_DATAGRAM,
  type UdpClientOptions,
  type UdpServerOptions,
  udpClient,
  udpServer,
} from './UdpTransport.js';
export { webrtcClient } from './WebRtcNodeClient.js';
export { type WebRtcServerOptions, webrtcServer } from './WebRtcServerTransport.js';
export {
  type WebSocketClientOptions,
  type WebSocketServerOptions,
  websocketClient,
  websocketServer,
} from './WebSocketTransport.js';
