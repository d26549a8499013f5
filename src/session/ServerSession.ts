import type { PeerId, TransportAddress } from '../transport/types.js';
import type { LinkLike } from './linkTypes.js';
import type { ConnectPacket } from './packets/types.js';
import type { ServerSessionPipe } from './SessionPipe.js';

/**
 * Where a server-side session is in its life:
 * - `auth`: Connect accepted as well-formed, AuthGrant sent, waiting for AuthToken
 * - `authenticating`: the Authenticator is deciding (it may be asynchronous)
 * - `accepted`: ConnectAccept sent; messages flow
 * - `closing`: Disconnect/ConnectReject sent; kept briefly so the link can deliver it
 * - `closed`: forgotten
 */
export type ServerSessionState = 'auth' | 'authenticating' | 'accepted' | 'closing' | 'closed';

/** One peer's session on the server (layer 3). The API layer wraps it in a `User`. */
export class ServerSession {
  state: ServerSessionState = 'auth';
  /** Whether the peer proved it receives at its address (answered the grant). */
  validated = false;
  /** Whether the peer sent a link packet (so it bound its link to this session): stop wrapping. */
  bound = false;
  /** Bytes the peer sent before validation: what the server may send it meanwhile. */
  sendBudget: number;
  sentBeforeValidation = 0;
  closeDeadline = 0;
  /** Authenticated and handed to `deferAccept`, waiting for `completeAccept` (a proxy). */
  deferred = false;
  /** Set once the session accepted: the reason it ended, once it did. */
  closeReason?: string;
  /**
   * Session resume: when the peer's transport went away (or fell silent past the link timeout)
   * while the session waits for the client to come back from a new address.
   */
  detachedAt?: number;

  constructor(
    /** Session id; becomes the client id sent in SetClientId. */
    readonly id: number,
    /** Internal routing key (listen socket index + peer id); changes when the session resumes. */
    public key: string,
    readonly socketIndex: number,
    /** The peer's transport id; changes when the session resumes from a new address. */
    public peer: PeerId,
    readonly transport: TransportAddress['transport'],
    /** The client's Connect, as received (a proxy replays it). */
    readonly connect: ConnectPacket,
    /** The Connect's encoded bytes. */
    readonly connectBytes: Uint8Array,
    /** ConnectRequest envelope nonce of this attempt. */
    readonly nonce: number,
    /** The grant sent in AuthGrant. */
    readonly authorizationGrant: Uint8Array,
    readonly createdAt: number,
    readonly handshakeDeadline: number,
    readonly link: LinkLike,
    readonly pipe: ServerSessionPipe,
    sendBudget: number,
  ) {
    this.sendBudget = sendBudget;
  }

  /** "udp:127.0.0.1:5000", "websocket:ws#3", "memory:mem#1". */
  get address(): string {
    return `${this.transport}:${this.peer}`;
  }

  get rttMs(): number {
    return this.link.rttMs;
  }
}
