/** Layer 3: sessions (handshake, setup, disconnect) and the SessionPipe. Browser-safe. */
export * from './Authenticator.js';
export * from './ClientSession.js';
export * from './ConnectError.js';
export * from './ConnectReassembler.js';
export * from './IdentityToken.js';
export * from './LinkPipe.js';
export * from './linkTypes.js';
export * from './Protocol.js';
export * from './packets/index.js';
export * from './ServerSession.js';
export * from './SessionHost.js';
export type * from './SessionPipe.js';
export * from './Ticker.js';
