/** Node-only session helpers (node:crypto): identity token minting and Ed25519 verification. */
export * from './Ed25519Authenticator.js';
export * from './identityTokens.js';
export * from './keys.js';
