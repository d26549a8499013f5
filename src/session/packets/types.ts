import type { RejectCode } from './kinds.js';

/**
 * `Connect`: the client's opening packet. Sent connectionless (see `connectionless.ts`);
 * captured whole by a proxy so it can be replayed to a backend.
 */
export interface ConnectPacket {
  readonly type: 'Connect';
  /** The client's protocol hash; a mismatch is rejected before any state is allocated. */
  readonly protocolHash: bigint;
  /** Free-form client kind, e.g. 'game', 'bot' (≤ 32 bytes). */
  readonly clientType: string;
  /** BCP-47-ish language tag (≤ 16 bytes). */
  readonly language: string;
  /** Canonical lowercase UUID string (16 bytes on the wire). */
  readonly uuid: string;
  /** 1..64 bytes of UTF-8. */
  readonly username: string;
  /** Opaque identity token the server's Authenticator verifies (≤ 2048 bytes). */
  readonly identityToken?: Uint8Array;
  /** Data a referring server handed the client (≤ 4096 bytes). */
  readonly referralData?: Uint8Array;
}

/** Server → client: the server's grant to redeem (its challenge) and its own identity. */
export interface AuthGrantPacket {
  readonly type: 'AuthGrant';
  readonly authorizationGrant: Uint8Array;
  readonly serverIdentityToken: Uint8Array;
}

/** Client → server: the redeemed grant, and the client's grant (challenge) for the server. */
export interface AuthTokenPacket {
  readonly type: 'AuthToken';
  readonly accessToken: Uint8Array;
  readonly serverAuthorizationGrant: Uint8Array;
}

/** Server → client: the server's redemption of the client's grant. */
export interface ServerAuthTokenPacket {
  readonly type: 'ServerAuthToken';
  readonly serverAccessToken: Uint8Array;
}

/** Server → client: the session is established. `serverTick` seeds the client's tick estimate. */
export interface ConnectAcceptPacket {
  readonly type: 'ConnectAccept';
  readonly serverTick: number;
}

/** Server → client: the attempt is refused. */
export interface ConnectRejectPacket {
  readonly type: 'ConnectReject';
  readonly code: RejectCode;
  readonly reason: string;
}

export interface SetClientIdPacket {
  readonly type: 'SetClientId';
  readonly clientId: number;
}

export interface ServerInfoPacket {
  readonly type: 'ServerInfo';
  readonly name: string;
  readonly motd: string;
  readonly maxPlayers: number;
}

/** Server → client: opaque application bytes describing the world. */
export interface WorldSettingsPacket {
  readonly type: 'WorldSettings';
  readonly data: Uint8Array;
}

/** Client → server: interest radius (finite, ≥ 0). */
export interface ViewRadiusPacket {
  readonly type: 'ViewRadius';
  readonly radius: number;
}

/** Client → server: opaque application bytes (player preferences). */
export interface PlayerOptionsPacket {
  readonly type: 'PlayerOptions';
  readonly data: Uint8Array;
}

export interface JoinWorldPacket {
  readonly type: 'JoinWorld';
  readonly worldId: number;
  readonly clearWorld: boolean;
  readonly fade: boolean;
}

export interface ClientReadyPacket {
  readonly type: 'ClientReady';
}

/** Server → client: reconnect to another server (not seamless). */
export interface ClientReferralPacket {
  readonly type: 'ClientReferral';
  readonly host: string;
  readonly port: number;
  readonly data: Uint8Array;
}

export interface DisconnectPacket {
  readonly type: 'Disconnect';
  readonly reason: string;
}

/** Setup packets a Migrate may carry (the new backend's, as a direct join would have sent them). */
export type MigrateSetupPacket = SetClientIdPacket | ServerInfoPacket | WorldSettingsPacket | JoinWorldPacket;

/**
 * Proxy → client: the session moves to another backend now (seamless migration, DESIGN §5).
 * Applied by the client once it has received `barrier[i].count` messages of the previous epoch
 * on each listed link channel (every reliable message the old backend sent before the move), in
 * one tick. Messages carry their epoch (`ProxyHello` flag bit 1), so none is counted on the wrong side.
 */
export interface MigratePacket {
  readonly type: 'Migrate';
  /** The new world epoch (world frames of other epochs are dropped from now on). */
  readonly epoch: number;
  /** The backend the player is on now. */
  readonly backendId: string;
  /** The new backend's tick (informational: the proxy translates tick-buffered ticks). */
  readonly serverTick: number;
  /** Per reliable link channel, how many server → client messages of the previous epoch precede this packet. */
  readonly barrier: readonly { readonly linkChannel: number; readonly count: number }[];
  /** The new backend's setup: SetClientId, ServerInfo, WorldSettings, JoinWorld (in that order). */
  readonly setup: readonly MigrateSetupPacket[];
  /** Entities that carry over: the old backend's id → the new backend's id (redirects). */
  readonly carried: readonly { readonly from: number; readonly to: number }[];
}

/** Client → proxy: the Migrate of `epoch` took effect. */
export interface MigrateAckPacket {
  readonly type: 'MigrateAck';
  readonly epoch: number;
}

/** Proxy → client during setup: world frames and server → client messages carry a leading epoch byte. */
export interface ProxyHelloPacket {
  readonly type: 'ProxyHello';
  /** bit 0: world frames carry `u8 epoch` first; bit 1: server → client messages do too. Other bits zero. */
  readonly flags: number;
  /** The initial world epoch. */
  readonly epoch: number;
}

/** Every session packet. */
export type SessionPacket =
  | ConnectPacket
  | AuthGrantPacket
  | AuthTokenPacket
  | ServerAuthTokenPacket
  | ConnectAcceptPacket
  | ConnectRejectPacket
  | SetClientIdPacket
  | ServerInfoPacket
  | WorldSettingsPacket
  | ViewRadiusPacket
  | PlayerOptionsPacket
  | JoinWorldPacket
  | ClientReadyPacket
  | ClientReferralPacket
  | DisconnectPacket
  | MigratePacket
  | MigrateAckPacket
  | ProxyHelloPacket;

export type SessionPacketType = SessionPacket['type'];
