import type { ServerSession } from '../session/ServerSession.js';
import type { TransportAddress } from '../transport/types.js';

/** A connected player, as the server API sees it. */
export class User {
  /** Client id (also sent to the client in SetClientId). Unique for the server's lifetime. */
  readonly id: number;
  readonly uuid: string;
  readonly username: string;
  /** "udp:127.0.0.1:5000", "websocket:ws#3", "memory:mem#1". */
  readonly address: string;
  readonly transport: TransportAddress['transport'];
  readonly clientType: string;
  readonly language: string;
  readonly identityToken?: Uint8Array;
  readonly referralData?: Uint8Array;
  /** Last ViewRadius the client sent. */
  viewRadius?: number;
  /** Last PlayerOptions the client sent. */
  playerOptions?: Uint8Array;
  /** The client answered JoinWorld with ClientReady. */
  ready = false;
  /** False once disconnected. */
  connected = true;
  /** Why the user disconnected, once it did. */
  disconnectReason?: string;

  /** @internal */
  constructor(readonly session: ServerSession) {
    const c = session.connect;
    this.id = session.id;
    this.uuid = c.uuid;
    this.username = c.username;
    this.address = session.address;
    this.transport = session.transport;
    this.clientType = c.clientType;
    this.language = c.language;
    this.identityToken = c.identityToken;
    this.referralData = c.referralData;
  }

  /** Round-trip estimate of the user's link, ms. */
  get rttMs(): number {
    return this.session.rttMs;
  }
}
