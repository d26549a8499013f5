import { BitReader } from '../serde/BitReader.js';
import { BitWriter } from '../serde/BitWriter.js';
import { DecodeError, EncodeError } from '../serde/DecodeError.js';
import type { ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { type DecodedComponent, type RefWire, readFullComponent, writeRefWire } from './frame.js';

/**
 * Carried entities (seamless migration, DESIGN §5): the entities that move with a player from
 * backend A to backend B, as A hands them off. World-layer bytes, opaque to the mux layer and
 * the proxy (`Handoff.entities` → `Restore.entities`). Layout (docs/wire/world.md):
 *
 * `u8 version (1)` · `varuint n (≤ 4096)` · n × ( `varuint wireId` · `u8 flags` ·
 * `varuint k` · k × full component (kind bits, then each value; entity references as the
 * source connection's reference encoding) ), zero padded to a byte.
 *
 * `wireId` is the id the player's client knows the entity by on A's connection: A's host id for
 * a server-hosted entity, the client's own host id for a client-owned one. Flags: bit 0
 * client-owned, bit 1 delegated, bit 2 the player holds authority, bit 3 the client knows the
 * entity (`wireId` is valid); other bits zero.
 */
export interface CarriedEntity {
  readonly wireId: number;
  readonly clientOwned: boolean;
  readonly delegated: boolean;
  /** The player held authority over it on A (it is given the player again on B). */
  readonly held: boolean;
  /** The client has the entity under {@link wireId} (it keeps its identity there). */
  readonly known: boolean;
  /** Values with entity references as {@link RefWire} of A's connection (resolved on B). */
  readonly components: readonly DecodedComponent[];
}

export const CARRIED_VERSION = 1;
/** Most entities carried with one player (the same bound as the mux layer's carried list). */
export const MAX_CARRIED_ENTITIES = 4096;

const FLAG_CLIENT_OWNED = 1;
const FLAG_DELEGATED = 2;
const FLAG_HELD = 4;
const FLAG_KNOWN = 8;
const FLAG_MASK = 15;

export function encodeCarried(registry: ComponentRegistry, entities: readonly CarriedEntity[]): Uint8Array {
  if (entities.length > MAX_CARRIED_ENTITIES) throw new EncodeError('too many carried entities');
  const w = new BitWriter(64);
  w.writeU8(CARRIED_VERSION);
  w.writeVarUint(entities.length);
  for (const c of entities) {
    w.writeVarUint(c.known ? c.wireId : 0);
    w.writeU8(
      (c.clientOwned ? FLAG_CLIENT_OWNED : 0) |
        (c.delegated ? FLAG_DELEGATED : 0) |
        (c.held ? FLAG_HELD : 0) |
        (c.known ? FLAG_KNOWN : 0),
    );
    w.writeVarUint(c.components.length);
    for (const comp of c.components) writeComponent(w, registry, comp.kind, comp.values);
  }
  return w.finish();
}

function writeComponent(
  w: BitWriter,
  registry: ComponentRegistry,
  kind: ComponentKind,
  values: readonly unknown[],
) {
  w.writeBits(kind.index, registry.kindBits);
  for (let i = 0; i < kind.propCount; i++) {
    if (kind.isRef[i]) writeRefWire(w, values[i] as RefWire | null);
    else kind.types[i].write(w, values[i]);
  }
}

/** Decode carried entities; malformed bytes → {@link DecodeError}. Empty input = none carried. */
export function decodeCarried(bytes: Uint8Array, registry: ComponentRegistry): CarriedEntity[] {
  if (bytes.length === 0) return [];
  const r = new BitReader(bytes);
  const version = r.readU8();
  if (version !== CARRIED_VERSION) throw new DecodeError('invalid', `carried entities version ${version}`);
  const n = r.readVarUint();
  if (n > MAX_CARRIED_ENTITIES) throw new DecodeError('out-of-range', 'carried entities');
  const out: CarriedEntity[] = [];
  for (let i = 0; i < n; i++) {
    const wireId = r.readVarUint();
    const flags = r.readU8();
    if ((flags & ~FLAG_MASK) !== 0) throw new DecodeError('invalid', 'carried entity flags');
    const k = r.readVarUint();
    if (k > registry.kinds.length) throw new DecodeError('out-of-range', 'carried components');
    const components: DecodedComponent[] = [];
    const seen = new Set<number>();
    for (let j = 0; j < k; j++) {
      const c = readFullComponent(r, registry);
      if (seen.has(c.kind.index)) throw new DecodeError('invalid', 'carried component twice');
      seen.add(c.kind.index);
      components.push(c);
    }
    out.push({
      wireId,
      clientOwned: (flags & FLAG_CLIENT_OWNED) !== 0,
      delegated: (flags & FLAG_DELEGATED) !== 0,
      held: (flags & FLAG_HELD) !== 0,
      known: (flags & FLAG_KNOWN) !== 0,
      components,
    });
  }
  r.expectEnd();
  return out;
}
