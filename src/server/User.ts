import type { ServerSession } from '../session/ServerSession.js';
import type { TransportAddress } from '../transport/types.js';
import { ProxiedSession } from './ProxiedSessions.js';

/**
 * A connected player, as the server API sees it: what game code passes around — to
 * `server.send`, to rooms (`room.addUser(user)`), to `server.include/exclude` — and what the
 * server's events name (including client-owned entity events), and the authority holder of a
 * delegated entity (`entity.giveAuthority(user)`, `entity.authHolder === user`).
 */
export class User {
  /**
   * Client id (also sent to the client in SetClientId). Unique for this server's lifetime only:
   * another backend may give the same number to another player, and a migrated player gets a
   * new one. Key what must survive a migration by {@link uuid}.
   */
  readonly id: number;
  /** The player's stable identity: the same on every backend and across migrations (from its Connect, vouched for by the proxy). */
  readonly uuid: string;
  readonly username: string;
  readonly transport: TransportAddress['transport'];
  readonly clientType: string;
  readonly language: string;
  readonly identityToken?: Uint8Array;
  readonly referralData?: Uint8Array;
  /**
   * Interest radius in force: the last ViewRadius the client sent (clamped to the server's
   * `interest.maxRadius`) or what `server.setViewRadius` set. It filters replication once the
   * server has set a view centre (`server.setViewCenter`) and declared positions (`interest`).
   */
  viewRadius?: number;
  /** Last PlayerOptions the client sent. */
  playerOptions?: Uint8Array;
  /** The client answered JoinWorld with ClientReady (world frames flow to it only then). */
  ready = false;
  /** False once disconnected. */
  connected = true;
  /** Backend mode: the backend this player came from by seamless migration. */
  migratedFrom?: string;
  /** Why the user disconnected, once it did. */
  disconnectReason?: string;

  /** @internal */
  constructor(readonly session: ServerSession) {
    const c = session.connect;
    this.id = session.id;
    this.uuid = c.uuid;
    this.username = c.username;
    this.transport = session.transport;
    this.clientType = c.clientType;
    this.language = c.language;
    this.identityToken = c.identityToken;
    this.referralData = c.referralData;
  }

  /**
   * "udp:127.0.0.1:5000", "websocket:ws#3", "memory:mem#1": where the user is now (a session
   * that resumed after a dropped connection has a new address).
   */
  get address(): string {
    return this.session.address;
  }

  /**
   * Backend mode: the player has been handed off to another backend (frozen here, in the overlap
   * window) and is about to leave — its input now goes to the other backend. False again if the
   * proxy rolls the migration back. Game code counting its players should skip these.
   */
  get leaving(): boolean {
    return this.session instanceof ProxiedSession && this.session.frozen;
  }

  /** Round-trip estimate of the user's link, ms. */
  get rttMs(): number {
    return this.session.rttMs;
  }
}
