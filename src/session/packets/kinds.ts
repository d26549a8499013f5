/**
 * Session packet kind ids: the first byte of every session packet (on the control channel, and
 * inside the connectionless Connect envelope). See docs/wire/session.md.
 *
 * Ranges:
 * - 0x01..0x0F: handshake, setup, world entry, referral, disconnect (below)
 * - 0x10..0x1F: reserved for migration control between proxy and client/backends (DESIGN §5):
 *   Migrate (0x10), MigrateAck (0x11), ProxyHello (0x12) are defined; 0x13..0x1F still decode
 *   as errors.
 * - 0x20..0xFF: reserved.
 */
export const PacketKind = {
  Connect: 0x01,
  AuthGrant: 0x02,
  AuthToken: 0x03,
  ServerAuthToken: 0x04,
  ConnectAccept: 0x05,
  ConnectReject: 0x06,
  SetClientId: 0x07,
  ServerInfo: 0x08,
  WorldSettings: 0x09,
  ViewRadius: 0x0a,
  PlayerOptions: 0x0b,
  JoinWorld: 0x0c,
  ClientReady: 0x0d,
  ClientReferral: 0x0e,
  Disconnect: 0x0f,
  /** Proxy → client: seamless move to another backend (docs/wire/session.md "Migration control"). */
  Migrate: 0x10,
  /** Client → proxy: the Migrate of that epoch took effect. */
  MigrateAck: 0x11,
  /** Proxy → client, during setup: the session can migrate; world frames carry an epoch byte. */
  ProxyHello: 0x12,
} as const;

/** First kind id reserved for migration control. */
export const MIGRATION_KIND_FIRST = 0x10;
/** Last kind id reserved for migration control. */
export const MIGRATION_KIND_LAST = 0x1f;

/** Why a connection attempt was refused (`ConnectReject.code`). Unknown codes decode as `Other`. */
export const RejectCode = {
  Other: 0,
  ProtocolMismatch: 1,
  ServerBusy: 2,
  ServerFull: 3,
  AuthFailed: 4,
  HandshakeTimeout: 5,
  ServerClosing: 6,
  Malformed: 7,
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

/** Size limits every codec enforces on both encode and decode. */
export const Limits = {
  clientTypeBytes: 32,
  languageBytes: 16,
  usernameBytes: 64,
  identityTokenBytes: 2048,
  referralDataBytes: 4096,
  grantBytes: 1024,
  reasonBytes: 256,
  serverNameBytes: 64,
  motdBytes: 512,
  worldSettingsBytes: 16384,
  playerOptionsBytes: 4096,
  hostBytes: 253,
  backendIdBytes: 64,
  /** Session packets nested in one Migrate (setup of the new backend). */
  migrateSetupPackets: 8,
  /** Largest nested setup packet in a Migrate. */
  migrateSetupBytes: 20000,
  /** Barrier entries in a Migrate (one per reliable link channel). */
  migrateBarrierChannels: 32,
  /** Carried entity pairs in a Migrate. */
  migrateCarriedEntities: 4096,
} as const;
