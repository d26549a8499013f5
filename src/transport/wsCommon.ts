/**
 * Pieces shared by the Node and browser WebSocket transports. Browser-safe.
 */
import type { TransportAddress } from './types.js';

/** Default largest message (one datagram) a WebSocket transport accepts: 64 KiB. */
export const WS_DEFAULT_MAX_PAYLOAD = 65536;

/** Default bound on bytes queued in one socket before `send` starts dropping datagrams. */
export const WS_DEFAULT_MAX_BUFFERED = 1024 * 1024;

/** Default wait for the closing handshake before `close()` resolves anyway (or cuts the socket). */
export const WS_DEFAULT_CLOSE_GRACE_MS = 1000;

/** Default bound on the opening handshake before `connect()` fails. */
export const WS_DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Default bound, on a server, from TCP accept to a completed WebSocket upgrade (TLS and HTTP
 * included): a peer that dribbles its handshake (slowloris) is cut after this.
 */
export const WS_DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * Default bound, on a server, on a peer's silence: no datagram for this long closes it. The
 * link layer above sends a heartbeat every second and gives up after 10 s itself, so a live
 * client is never cut by this; a socket that never speaks is.
 */
export const WS_DEFAULT_IDLE_TIMEOUT_MS = 10_000;

/** Default most simultaneous connected peers of a server. */
export const WS_DEFAULT_MAX_PEERS = 10_000;

/** Default most TCP connections of a server still in their handshake at once. */
export const WS_DEFAULT_MAX_PENDING_HANDSHAKES = 256;

/** Close code of a peer closed for silence (RFC 6455 "policy violation"). */
export const WS_CLOSE_POLICY = 1008;

/** Close code of a peer refused because the server is full ("try again later"). */
export const WS_CLOSE_TRY_AGAIN_LATER = 1013;

/** Close code a server uses when it shuts down (RFC 6455 "going away"). */
export const WS_CLOSE_GOING_AWAY = 1001;

/** Close code of a normal close. */
export const WS_CLOSE_NORMAL = 1000;

/** Builds `ws://host:port/path`, bracketing IPv6 literals. */
export function websocketUrl(host: string, port: number, path = '/', secure = false): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const p = path.startsWith('/') ? path : `/${path}`;
  return `${secure ? 'wss' : 'ws'}://${h}:${port}${p}`;
}

/** The URL to dial: a URL string as is, a `TransportAddress` by its `url` or host/port. */
export function resolveWebSocketUrl(address: TransportAddress | string): string {
  if (typeof address === 'string') return address;
  if (address.url) return address.url;
  return websocketUrl(address.host, address.port);
}

/** A readable close reason for `onClosed`. */
export function describeClose(code: number, reason: string): string {
  return reason ? `websocket closed (${code}: ${reason})` : `websocket closed (${code})`;
}
