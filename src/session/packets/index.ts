/** Session packets: codecs for the handshake, setup and control packets (browser-safe). */
export * from './codec.js';
export * from './connectionless.js';
export * from './kinds.js';
export type * from './types.js';
export * from './uuid.js';
