import type { BitReader } from '../serde/BitReader.js';
import type { BitWriter } from '../serde/BitWriter.js';
import { DecodeError } from '../serde/DecodeError.js';
import type { ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { MAX_WIRE_ENTITY } from './ids.js';

/**
 * World frame wire format (docs/wire/world.md). Encoding is split into small writers the
 * connection calls while it fills a frame against a byte budget; decoding is one pure function
 * that parses a whole frame into plain data *before* anything is applied, so a malformed frame
 * changes nothing.
 */

/**
 * Command types (4 bits on the wire; 14 and 15 are reserved). The type decides whose id space
 * the entity field is in: the sender's host ids, except for the *receiver-hosted* types
 * (AuthorityRequest, HeldInsert, HeldRemove, HeldDespawn), which a client sends about entities
 * the server hosts (authority requests and writes of the authority holder).
 */
export const CmdType = {
  Spawn: 0,
  Despawn: 1,
  Insert: 2,
  Remove: 3,
  Publish: 4,
  Unpublish: 5,
  /** Body: `on` (1 bit). Client → server: its own entity; server → client: a server entity. */
  Delegation: 6,
  /**
   * Server → client. Body: status (2 bits), hasKinds (1), and if set the kinds bitset (one bit per
   * kind) followed by each of those kinds' property values (a resync for a former holder).
   */
  Authority: 7,
  /** Client → server, receiver-hosted. Body: `release` (1 bit). */
  AuthorityRequest: 8,
  /** Server → client; entity = the new (sender-hosted) id. Body: old id (varuint, receiver's host id). */
  MigrateResponse: 9,
  /** Client → server, receiver-hosted: the authority holder's Insert / Remove / Despawn. */
  HeldInsert: 10,
  HeldRemove: 11,
  HeldDespawn: 12,
  /** A retired command: keeps its id so the stream has no holes; entity 0, no body. */
  Noop: 13,
} as const;
export type CmdType = (typeof CmdType)[keyof typeof CmdType];
export const CMD_TYPE_BITS = 4;

/** Authority status on the wire (Authority command), as the receiving client sees it. */
export const AuthWire = { Available: 0, Granted: 1, Denied: 2 } as const;

/** Whether a command type names the entity in the receiver's id space. */
export function receiverHosted(type: CmdType): boolean {
  return (
    type === CmdType.AuthorityRequest ||
    type === CmdType.HeldInsert ||
    type === CmdType.HeldRemove ||
    type === CmdType.HeldDespawn
  );
}

/** Header bits: u16 index + 1 flag (+ u16 latest + u32 bits when the flag is set). */
export const FRAME_HEADER_BITS = 16 + 1 + 16 + 32;
/** Terminator bits for the three sections (commands, updates, held updates). */
export const FRAME_TRAILER_BITS = 3;

/** An entity reference as it travels: the sender's id space (hosted by the sender or not) and id. */
export interface RefWire {
  hostedBySender: boolean;
  id: number;
}

export interface DecodedComponent {
  kind: ComponentKind;
  /** Property values; entity references are {@link RefWire} or null. */
  values: unknown[];
}

export interface InCommand {
  /** 16-bit id as sent. */
  wireId: number;
  type: CmdType;
  /** The sender's host id of the entity. */
  entity: number;
  /** Spawn: the components it is born with; Authority with kinds: the resync's values. */
  components?: DecodedComponent[];
  /** Insert: the component; Remove: its kind. */
  component?: DecodedComponent;
  kind?: ComponentKind;
  /** Delegation: on; AuthorityRequest: release; Authority: status; MigrateResponse: old id. */
  arg?: number;
  /** Authority: the sender's component kinds of the entity (a resync for a former holder). */
  kinds?: ComponentKind[];
}

export interface InUpdate {
  entity: number;
  kind: ComponentKind;
  mask: number;
  /** Sparse: only indices whose bit is set hold a value. */
  values: unknown[];
}

export interface DecodedFrame {
  index: number;
  ack: { latest: number; bits: number } | null;
  commands: InCommand[];
  updates: InUpdate[];
  /** Updates the authority holder wrote to entities the receiver hosts (ids: receiver's). */
  held: InUpdate[];
}

// ---- encoding ------------------------------------------------------------------------------

export function writeFrameHeader(
  w: BitWriter,
  index: number,
  ack: { latest: number; bits: number } | null,
): void {
  if (ack === null) writeFrameHeaderFields(w, index, false, 0, 0);
  else writeFrameHeaderFields(w, index, true, ack.latest, ack.bits);
}

/** {@link writeFrameHeader} with the ack as plain fields (the send path allocates nothing per frame). */
export function writeFrameHeaderFields(
  w: BitWriter,
  index: number,
  hasAck: boolean,
  latest: number,
  bits: number,
): void {
  w.writeBits(index & 0xffff, 16);
  w.writeBool(hasAck);
  if (hasAck) {
    w.writeBits(latest & 0xffff, 16);
    w.writeBits(bits >>> 0, 32);
  }
}

export function writeRefWire(w: BitWriter, ref: RefWire | null): void {
  w.writeBool(ref !== null);
  if (ref) {
    w.writeBool(ref.hostedBySender);
    w.writeVarUint(ref.id);
  }
}

export function refWireBits(ref: RefWire | null): number {
  return ref === null ? 1 : 2 + varUintBits(ref.id);
}

export function varUintBits(v: number): number {
  let groups = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    groups++;
  }
  return groups * 8;
}

// ---- decoding ------------------------------------------------------------------------------

/** Parse a whole frame; throws DecodeError on anything malformed. */
export function decodeFrame(r: BitReader, registry: ComponentRegistry): DecodedFrame {
  const index = r.readBits(16);
  const ack = r.readBool() ? { latest: r.readBits(16), bits: r.readBits(32) } : null;
  const commands: InCommand[] = [];
  while (r.readBool()) commands.push(readCommand(r, registry));
  const updates: InUpdate[] = [];
  while (r.readBool()) updates.push(readUpdate(r, registry));
  const held: InUpdate[] = [];
  while (r.readBool()) held.push(readUpdate(r, registry));
  r.expectEnd();
  return { index, ack, commands, updates, held };
}

function readUpdate(r: BitReader, registry: ComponentRegistry): InUpdate {
  const entity = readEntityId(r);
  const kind = readKind(r, registry);
  const mask = r.readBits(kind.propCount);
  if (mask === 0) throw new DecodeError('invalid', 'empty update mask');
  const values: unknown[] = new Array(kind.propCount);
  for (let i = 0; i < kind.propCount; i++) {
    if (mask & (1 << i)) values[i] = readValue(r, kind, i);
  }
  return { entity, kind, mask, values };
}

function readCommand(r: BitReader, registry: ComponentRegistry): InCommand {
  const wireId = r.readBits(16);
  const type = r.readBits(CMD_TYPE_BITS);
  const entity = readEntityId(r);
  switch (type) {
    case CmdType.Spawn: {
      const count = r.readVarUint();
      if (count > registry.kinds.length)
        throw new DecodeError('out-of-range', 'spawn with too many components');
      const components: DecodedComponent[] = [];
      let seen = 0n;
      for (let c = 0; c < count; c++) {
        const comp = readFullComponent(r, registry);
        const bit = 1n << BigInt(comp.kind.index);
        if (seen & bit) throw new DecodeError('invalid', 'spawn lists a component twice');
        seen |= bit;
        components.push(comp);
      }
      return { wireId, type, entity, components };
    }
    case CmdType.Insert:
    case CmdType.HeldInsert:
      return { wireId, type, entity, component: readFullComponent(r, registry) };
    case CmdType.Remove:
    case CmdType.HeldRemove:
      return { wireId, type, entity, kind: readKind(r, registry) };
    case CmdType.Despawn:
    case CmdType.HeldDespawn:
    case CmdType.Publish:
    case CmdType.Unpublish:
    case CmdType.Noop:
      return { wireId, type, entity };
    case CmdType.Delegation:
    case CmdType.AuthorityRequest:
      return { wireId, type, entity, arg: r.readBits(1) };
    case CmdType.Authority: {
      const arg = r.readBits(2);
      if (arg > AuthWire.Denied) throw new DecodeError('out-of-range', `unknown authority status ${arg}`);
      if (!r.readBool()) return { wireId, type, entity, arg };
      const kinds: ComponentKind[] = [];
      for (const k of registry.kinds) if (r.readBool()) kinds.push(k);
      // the resync's values, kind by kind in declaration order
      const components: DecodedComponent[] = [];
      for (const kind of kinds) {
        const values: unknown[] = new Array(kind.propCount);
        for (let i = 0; i < kind.propCount; i++) values[i] = readValue(r, kind, i);
        components.push({ kind, values });
      }
      return { wireId, type, entity, arg, kinds, components };
    }
    case CmdType.MigrateResponse:
      return { wireId, type, entity, arg: readEntityId(r) };
    default:
      throw new DecodeError('out-of-range', `unknown command type ${type}`);
  }
}

export function readFullComponent(r: BitReader, registry: ComponentRegistry): DecodedComponent {
  const kind = readKind(r, registry);
  const values: unknown[] = new Array(kind.propCount);
  for (let i = 0; i < kind.propCount; i++) values[i] = readValue(r, kind, i);
  return { kind, values };
}

function readValue(r: BitReader, kind: ComponentKind, i: number): unknown {
  if (kind.isRef[i]) {
    if (!r.readBool()) return null;
    const hostedBySender = r.readBool();
    return { hostedBySender, id: readEntityId(r) } satisfies RefWire;
  }
  return kind.types[i].read(r);
}

export function readKind(r: BitReader, registry: ComponentRegistry): ComponentKind {
  const k = r.readBits(registry.kindBits);
  const kind = registry.kinds[k];
  if (!kind) throw new DecodeError('out-of-range', `unknown component kind ${k}`);
  return kind;
}

function readEntityId(r: BitReader): number {
  const id = r.readVarUint();
  if (id > MAX_WIRE_ENTITY) throw new DecodeError('out-of-range', `entity id ${id} out of range`);
  return id;
}
