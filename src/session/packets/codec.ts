import { BitReader, BitWriter, DecodeError, EncodeError } from '../../serde/index.js';
import { Limits, MIGRATION_KIND_FIRST, MIGRATION_KIND_LAST, PacketKind, type RejectCode } from './kinds.js';
import type { MigrateSetupPacket, SessionPacket } from './types.js';
import { uuidFromBytes, uuidToBytes } from './uuid.js';

/**
 * Session packet codec. Every packet is byte-aligned: `u8 kind` then its fields (layouts in
 * docs/wire/session.md). Decoding is strict — exact length, bounded fields, flag bits that
 * must be zero — and throws only {@link DecodeError}.
 */

type Writer<P> = (w: BitWriter, p: P) => void;
type Reader = (r: BitReader) => SessionPacket;
type ByType<T extends SessionPacket['type']> = Extract<SessionPacket, { type: T }>;

const writers: { [T in SessionPacket['type']]: Writer<ByType<T>> } = {
  Connect: (w, p) => {
    writeU64(w, p.protocolHash);
    w.writeString(p.clientType, Limits.clientTypeBytes);
    w.writeString(p.language, Limits.languageBytes);
    w.writeRaw(uuidToBytes(p.uuid));
    if (p.username.length === 0) throw new EncodeError('username must not be empty');
    w.writeString(p.username, Limits.usernameBytes);
    w.writeU8((p.identityToken ? 1 : 0) | (p.referralData ? 2 : 0));
    if (p.identityToken) w.writeBytes(p.identityToken, Limits.identityTokenBytes);
    if (p.referralData) w.writeBytes(p.referralData, Limits.referralDataBytes);
  },
  AuthGrant: (w, p) => {
    w.writeBytes(p.authorizationGrant, Limits.grantBytes);
    w.writeBytes(p.serverIdentityToken, Limits.identityTokenBytes);
  },
  AuthToken: (w, p) => {
    w.writeBytes(p.accessToken, Limits.identityTokenBytes);
    w.writeBytes(p.serverAuthorizationGrant, Limits.grantBytes);
  },
  ServerAuthToken: (w, p) => w.writeBytes(p.serverAccessToken, Limits.identityTokenBytes),
  ConnectAccept: (w, p) => w.writeVarUint(p.serverTick),
  ConnectReject: (w, p) => {
    w.writeVarUint(p.code);
    w.writeString(p.reason, Limits.reasonBytes);
  },
  SetClientId: (w, p) => w.writeVarUint(p.clientId),
  ServerInfo: (w, p) => {
    w.writeString(p.name, Limits.serverNameBytes);
    w.writeString(p.motd, Limits.motdBytes);
    w.writeVarUint(p.maxPlayers);
  },
  WorldSettings: (w, p) => w.writeBytes(p.data, Limits.worldSettingsBytes),
  ViewRadius: (w, p) => {
    if (!Number.isFinite(p.radius) || p.radius < 0)
      throw new EncodeError('view radius must be finite and ≥ 0');
    w.writeF32(p.radius);
  },
  PlayerOptions: (w, p) => w.writeBytes(p.data, Limits.playerOptionsBytes),
  JoinWorld: (w, p) => {
    w.writeVarUint(p.worldId);
    w.writeU8((p.clearWorld ? 1 : 0) | (p.fade ? 2 : 0));
  },
  ClientReady: () => {},
  ClientReferral: (w, p) => {
    w.writeString(p.host, Limits.hostBytes);
    w.writeU16(p.port);
    w.writeBytes(p.data, Limits.referralDataBytes);
  },
  Disconnect: (w, p) => w.writeString(p.reason, Limits.reasonBytes),
  Migrate: (w, p) => {
    writeByte(w, p.epoch);
    w.writeString(p.backendId, Limits.backendIdBytes);
    w.writeVarUint(p.serverTick);
    if (p.barrier.length > Limits.migrateBarrierChannels) throw new EncodeError('too many barrier channels');
    w.writeU8(p.barrier.length);
    for (const b of p.barrier) {
      writeByte(w, b.linkChannel);
      w.writeVarUint(b.count);
    }
    if (p.setup.length > Limits.migrateSetupPackets) throw new EncodeError('too many setup packets');
    w.writeU8(p.setup.length);
    for (const q of p.setup) {
      if (!MIGRATE_SETUP.has(q.type)) throw new EncodeError(`${q.type} cannot be carried by Migrate`);
      w.writeBytes(encodeSessionPacket(q), Limits.migrateSetupBytes);
    }
    if (p.carried.length > Limits.migrateCarriedEntities) throw new EncodeError('too many carried entities');
    w.writeVarUint(p.carried.length);
    for (const c of p.carried) {
      w.writeVarUint(c.from);
      w.writeVarUint(c.to);
    }
  },
  MigrateAck: (w, p) => writeByte(w, p.epoch),
  ProxyHello: (w, p) => {
    if (p.flags >> 2 !== 0) throw new EncodeError('reserved ProxyHello flag bits');
    w.writeU8(p.flags);
    writeByte(w, p.epoch);
  },
};

/** Packet types a Migrate may nest. */
const MIGRATE_SETUP: ReadonlySet<SessionPacket['type']> = new Set([
  'SetClientId',
  'ServerInfo',
  'WorldSettings',
  'JoinWorld',
]);

function writeByte(w: BitWriter, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new EncodeError(`byte ${v}`);
  w.writeU8(v);
}

const readers: Record<number, Reader> = {
  [PacketKind.Connect]: (r) => {
    const protocolHash = readU64(r);
    const clientType = r.readString(Limits.clientTypeBytes);
    const language = r.readString(Limits.languageBytes);
    const uuid = uuidFromBytes(r.readRaw(16));
    const username = r.readString(Limits.usernameBytes);
    if (username.length === 0) throw new DecodeError('invalid', 'empty username');
    const flags = readFlags(r, 2);
    const identityToken = flags & 1 ? r.readBytes(Limits.identityTokenBytes) : undefined;
    const referralData = flags & 2 ? r.readBytes(Limits.referralDataBytes) : undefined;
    return {
      type: 'Connect',
      protocolHash,
      clientType,
      language,
      uuid,
      username,
      identityToken,
      referralData,
    };
  },
  [PacketKind.AuthGrant]: (r) => ({
    type: 'AuthGrant',
    authorizationGrant: r.readBytes(Limits.grantBytes),
    serverIdentityToken: r.readBytes(Limits.identityTokenBytes),
  }),
  [PacketKind.AuthToken]: (r) => ({
    type: 'AuthToken',
    accessToken: r.readBytes(Limits.identityTokenBytes),
    serverAuthorizationGrant: r.readBytes(Limits.grantBytes),
  }),
  [PacketKind.ServerAuthToken]: (r) => ({
    type: 'ServerAuthToken',
    serverAccessToken: r.readBytes(Limits.identityTokenBytes),
  }),
  [PacketKind.ConnectAccept]: (r) => ({ type: 'ConnectAccept', serverTick: r.readVarUint() }),
  [PacketKind.ConnectReject]: (r) => {
    const raw = r.readVarUint();
    // unknown codes from a newer peer still carry a readable reason
    const code = (raw <= 7 ? raw : 0) as RejectCode;
    return { type: 'ConnectReject', code, reason: r.readString(Limits.reasonBytes) };
  },
  [PacketKind.SetClientId]: (r) => ({ type: 'SetClientId', clientId: r.readVarUint() }),
  [PacketKind.ServerInfo]: (r) => ({
    type: 'ServerInfo',
    name: r.readString(Limits.serverNameBytes),
    motd: r.readString(Limits.motdBytes),
    maxPlayers: r.readVarUint(),
  }),
  [PacketKind.WorldSettings]: (r) => ({
    type: 'WorldSettings',
    data: r.readBytes(Limits.worldSettingsBytes),
  }),
  [PacketKind.ViewRadius]: (r) => {
    const radius = r.readF32();
    if (!Number.isFinite(radius) || radius < 0) throw new DecodeError('out-of-range', 'bad view radius');
    return { type: 'ViewRadius', radius };
  },
  [PacketKind.PlayerOptions]: (r) => ({
    type: 'PlayerOptions',
    data: r.readBytes(Limits.playerOptionsBytes),
  }),
  [PacketKind.JoinWorld]: (r) => {
    const worldId = r.readVarUint();
    const flags = readFlags(r, 2);
    return { type: 'JoinWorld', worldId, clearWorld: (flags & 1) !== 0, fade: (flags & 2) !== 0 };
  },
  [PacketKind.ClientReady]: () => ({ type: 'ClientReady' }),
  [PacketKind.ClientReferral]: (r) => ({
    type: 'ClientReferral',
    host: r.readString(Limits.hostBytes),
    port: r.readU16(),
    data: r.readBytes(Limits.referralDataBytes),
  }),
  [PacketKind.Disconnect]: (r) => ({ type: 'Disconnect', reason: r.readString(Limits.reasonBytes) }),
  [PacketKind.Migrate]: (r) => {
    const epoch = r.readU8();
    const backendId = r.readString(Limits.backendIdBytes);
    const serverTick = r.readVarUint();
    const nb = r.readU8();
    if (nb > Limits.migrateBarrierChannels) throw new DecodeError('out-of-range', 'barrier channels');
    const barrier: { linkChannel: number; count: number }[] = [];
    for (let i = 0; i < nb; i++) barrier.push({ linkChannel: r.readU8(), count: r.readVarUint() });
    const ns = r.readU8();
    if (ns > Limits.migrateSetupPackets) throw new DecodeError('out-of-range', 'setup packets');
    const setup: MigrateSetupPacket[] = [];
    for (let i = 0; i < ns; i++) {
      const q = decodeSessionPacket(r.readBytes(Limits.migrateSetupBytes));
      if (!MIGRATE_SETUP.has(q.type)) throw new DecodeError('invalid', `${q.type} inside Migrate`);
      setup.push(q as MigrateSetupPacket);
    }
    const nc = r.readVarUint();
    if (nc > Limits.migrateCarriedEntities) throw new DecodeError('out-of-range', 'carried entities');
    const carried: { from: number; to: number }[] = [];
    for (let i = 0; i < nc; i++) carried.push({ from: r.readVarUint(), to: r.readVarUint() });
    return { type: 'Migrate', epoch, backendId, serverTick, barrier, setup, carried };
  },
  [PacketKind.MigrateAck]: (r) => ({ type: 'MigrateAck', epoch: r.readU8() }),
  [PacketKind.ProxyHello]: (r) => {
    const flags = readFlags(r, 2);
    return { type: 'ProxyHello', flags, epoch: r.readU8() };
  },
};

/** Encode a session packet (throws EncodeError for values the layout cannot hold). */
export function encodeSessionPacket(p: SessionPacket): Uint8Array {
  const w = new BitWriter(64);
  w.writeU8(PacketKind[p.type]);
  (writers[p.type] as Writer<SessionPacket>)(w, p);
  return w.finish();
}

/** Decode one session packet occupying all of `bytes`. Throws {@link DecodeError}. */
export function decodeSessionPacket(bytes: Uint8Array): SessionPacket {
  const r = new BitReader(bytes);
  const kind = r.readU8();
  const read = readers[kind];
  if (!read) {
    const what =
      kind >= MIGRATION_KIND_FIRST && kind <= MIGRATION_KIND_LAST ? 'migration (reserved)' : 'unknown';
    throw new DecodeError('out-of-range', `${what} session packet kind 0x${kind.toString(16)}`);
  }
  const packet = read(r);
  r.expectEnd();
  return packet;
}

function writeU64(w: BitWriter, v: bigint): void {
  if (v < 0n || v > 0xffffffffffffffffn) throw new EncodeError('u64 out of range');
  w.writeU32(Number(v & 0xffffffffn));
  w.writeU32(Number(v >> 32n));
}

function readU64(r: BitReader): bigint {
  const lo = r.readU32();
  const hi = r.readU32();
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** A flags byte where only the low `bits` may be set (the rest are reserved, must be zero). */
function readFlags(r: BitReader, bits: number): number {
  const flags = r.readU8();
  if (flags >> bits !== 0) throw new DecodeError('invalid', 'reserved flag bits set');
  return flags;
}
