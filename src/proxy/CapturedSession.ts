import type { ConnectPacket, JoinWorldPacket, SessionPacket } from '../session/packets/types.js';

/**
 * The session data of one player the proxy keeps (DESIGN §5), so a later move to another
 * backend can replay it: what the client said when it arrived, what authentication decided,
 * what its backend set up, and what the client asked for since.
 */
export interface CapturedSession {
  /** The client's Connect as received (protocol hash, client type, language, uuid, username, tokens). */
  readonly connect: ConnectPacket;
  /** The client's address at the proxy ("udp:127.0.0.1:5000"). */
  readonly clientAddress: string;
  /** What the proxy's Authenticator returned (serverAccessToken; empty when nothing). */
  authResult: Uint8Array;
  /** The referral token in `connect.referralData` was verified (and named the backend it landed on). */
  referralVerified: boolean;
  /** Setup packets the backend sent before accepting (SetClientId, ServerInfo, WorldSettings). */
  setup: SessionPacket[];
  /** The backend's tick at acceptance (sent to the client in ConnectAccept). */
  serverTick?: number;
  /** The last JoinWorld the backend sent. */
  joinWorld?: Omit<JoinWorldPacket, 'type'>;
  /** The last ViewRadius the client sent. */
  viewRadius?: number;
  /** The last PlayerOptions the client sent. */
  playerOptions?: Uint8Array;
  /** The client answered the last JoinWorld with ClientReady. */
  ready: boolean;
}

/** A fresh capture for a client that just authenticated. */
export function captureConnect(
  connect: ConnectPacket,
  clientAddress: string,
  authResult: Uint8Array,
): CapturedSession {
  return { connect, clientAddress, authResult, referralVerified: false, setup: [], ready: false };
}

/** Record a backend → client control packet. */
export function captureFromBackend(c: CapturedSession, p: SessionPacket, beforeAccept: boolean): void {
  if (beforeAccept && (p.type === 'SetClientId' || p.type === 'ServerInfo' || p.type === 'WorldSettings')) {
    // keep the latest of each kind, in arrival order
    c.setup = c.setup.filter((q) => q.type !== p.type);
    c.setup.push(p);
  } else if (p.type === 'JoinWorld') {
    c.joinWorld = { worldId: p.worldId, clearWorld: p.clearWorld, fade: p.fade };
    c.ready = false;
  }
}

/** Record a client → backend control packet. */
export function captureFromClient(c: CapturedSession, p: SessionPacket): void {
  if (p.type === 'ViewRadius') c.viewRadius = p.radius;
  else if (p.type === 'PlayerOptions') c.playerOptions = p.data;
  else if (p.type === 'ClientReady') c.ready = true;
}
