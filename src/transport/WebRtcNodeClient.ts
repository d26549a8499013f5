/**
 * The WebRTC client transport in Node: the browser-safe one given node-datachannel's
 * `RTCPeerConnection` (its W3C polyfill) and `ws` for the signalling. Both are loaded when
 * `connect()` runs, so importing the transports never loads the native binding.
 */
import type { DatagramClientTransport, TransportAddress } from './types.js';
import {
  browserWebRtcClient,
  type RtcPeerConnectionConstructor,
  type SignallingSocketConstructor,
  type WebRtcClientOptions,
} from './WebRtcClientTransport.js';

/** A WebRTC data channel client transport for Node, to a `webrtcServer` address or URL. */
export function webrtcClient(
  address: TransportAddress | string,
  options: Omit<WebRtcClientOptions, 'RTCPeerConnection' | 'WebSocket'> = {},
): DatagramClientTransport {
  return {
    kind: 'webrtc',
    async connect() {
      const [{ RTCPeerConnection }, ws] = await Promise.all([
        import('node-datachannel/polyfill'),
        import('ws'),
      ]);
      return browserWebRtcClient(address, {
        ...options,
        RTCPeerConnection: RTCPeerConnection as unknown as RtcPeerConnectionConstructor,
        WebSocket: ws.default as unknown as SignallingSocketConstructor,
      }).connect();
    },
  };
}
