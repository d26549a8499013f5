/**
 * Layer 1 streams: framed, ordered, reliable connections for the proxy ↔ backend hop.
 * TLS with mutual authentication (Node only) and an in-memory pair/network for tests.
 */
export {
  DEFAULT_MAX_PAYLOAD,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FRAME_TYPE_CLOSE,
  FRAME_TYPE_READY,
  FRAME_TYPE_RESERVED_MIN,
  FrameDecoder,
  type FrameDecoderOptions,
  type FrameHandler,
  MAX_CLOSE_REASON_BYTES,
} from './frame.js';
export {
  type MemoryPairIdentities,
  type MemoryStreamClientOptions,
  MemoryStreamConnection,
  MemoryStreamNetwork,
  type MemoryStreamOptions,
  type MemoryStreamServerOptions,
  memoryStreamPair,
  peerIdentity,
} from './MemoryStream.js';
export { DEFAULT_MAX_BUFFERED_BYTES, type StreamLimits } from './StreamConnectionBase.js';
export { StreamRefusedError } from './StreamRefusedError.js';
export {
  type AuthorizeVerdict,
  identityFromCertificate,
  type PemInput,
  STREAM_ALPN,
  type TlsStreamClientOptions,
  type TlsStreamCommonOptions,
  type TlsStreamServerOptions,
  tlsStreamClient,
  tlsStreamServer,
} from './TlsStream.js';
export type {
  StreamAddress,
  StreamClientTransport,
  StreamConnection,
  StreamFrameHandler,
  StreamPeerIdentity,
  StreamServer,
  StreamServerStats,
  StreamServerTransport,
  StreamStats,
} from './types.js';
