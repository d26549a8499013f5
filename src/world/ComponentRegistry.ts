import { BitWriter } from '../serde/BitWriter.js';
import { EncodeError } from '../serde/DecodeError.js';
import type { ComponentDef } from '../serde/definitions.js';
import type { PropType } from '../serde/types.js';
import { isEntityRef } from './entityRef.js';

/** Any component definition, whatever its schema (the registry only needs its identity). */
// biome-ignore lint/suspicious/noExplicitAny: a schema-erased handle; ComponentDef<S> is invariant in S
export type AnyComponentDef = ComponentDef<any>;

/** Components may declare at most this many properties (a diff mask is one 32-bit word). */
export const MAX_PROPERTIES = 32;

const FIXED_BITS: Record<string, number> = {
  bool: 1,
  u8: 8,
  i8: 8,
  u16: 16,
  i16: 16,
  u32: 32,
  i32: 32,
  f32: 32,
  f64: 64,
};
/**
 * Fast-path write codes ({@link ComponentKind.writeCodes}): the world's writers call the
 * FrameWriter method directly for these types instead of going through the type's `write`
 * closure (the same method, so the same bits and the same errors).
 */
export const WriteCode = { Generic: 0, F32: 1, U8: 2, Bool: 3, U16: 4, F64: 5 } as const;
const WRITE_CODES: Record<string, number> = {
  f32: WriteCode.F32,
  u8: WriteCode.U8,
  bool: WriteCode.Bool,
  u16: WriteCode.U16,
  f64: WriteCode.F64,
};
/**
 * Types whose write never throws for a value of the right JS type, so setters skip validation.
 * Not f32/f64: they refuse non-numbers (and f32 values beyond its range), like the integers.
 */
const NO_VALIDATE = new Set(['bool']);

const scratch = new BitWriter(64);

/** Size in bits of one value, measured by encoding it (also validates it: throws EncodeError). */
export function measureBits(type: PropType<unknown>, value: unknown): number {
  scratch.reset();
  type.write(scratch, value);
  return scratch.bitLength;
}

function fixedBitsOf(type: PropType<unknown>): number {
  const f = FIXED_BITS[type.id];
  if (f !== undefined) return f;
  const q = /^q\([^,]+,[^,]+,(\d+)\)$/.exec(type.id);
  return q ? Number(q[1]) : -1;
}

/** One registered component kind with everything the hot path needs precomputed. */
export class ComponentKind {
  readonly name: string;
  readonly keys: readonly string[];
  readonly types: readonly PropType<unknown>[];
  readonly propCount: number;
  /** Bits per property when fixed, -1 when it depends on the value (or is an entity ref). */
  readonly fixedBits: Int32Array;
  /** Per property a {@link WriteCode} (Generic for entity references and other types). */
  readonly writeCodes: Uint8Array;
  /**
   * Bits of every property together when all are fixed-size (no entity references), else -1: a
   * full component's size without looking at its values.
   */
  readonly fixedTotalBits: number;
  /** Property indices holding entity references. */
  readonly refProps: readonly number[];
  readonly isRef: readonly boolean[];
  readonly validate: readonly boolean[];
  /** Mask with one bit per property. */
  readonly fullMask: number;
  /** Prototype of the tracked view objects (generated accessors, see ComponentInstance). */
  readonly viewProto: object;
  /** Every property's default (what a command carries when the component is already gone). */
  readonly defaults: readonly unknown[];
  /** Bits of the entity-reference properties. */
  readonly refMask: number;
  /**
   * @internal Set by a ServerWorld whose view radius reads this kind's position: its changes are
   * tracked even on entities nobody views yet (they decide who will).
   */
  spatial = false;

  constructor(
    readonly index: number,
    readonly def: ComponentDef,
  ) {
    this.name = def.name;
    this.keys = def.codec.keys;
    this.types = def.codec.types as PropType<unknown>[];
    this.propCount = this.keys.length;
    if (this.propCount > MAX_PROPERTIES) {
      throw new EncodeError(`component ${def.name}: more than ${MAX_PROPERTIES} properties`);
    }
    this.fixedBits = new Int32Array(this.propCount);
    this.writeCodes = new Uint8Array(this.propCount);
    const refs: number[] = [];
    const isRef: boolean[] = [];
    const validate: boolean[] = [];
    for (let i = 0; i < this.propCount; i++) {
      const ty = this.types[i];
      const ref = isEntityRef(ty);
      isRef.push(ref);
      if (ref) refs.push(i);
      this.fixedBits[i] = ref ? -1 : fixedBitsOf(ty);
      validate.push(!ref && !NO_VALIDATE.has(ty.id));
      if (!ref) this.writeCodes[i] = WRITE_CODES[ty.id] ?? WriteCode.Generic;
    }
    let total = 0;
    for (let i = 0; i < this.propCount; i++) {
      if (this.fixedBits[i] < 0) {
        total = -1;
        break;
      }
      total += this.fixedBits[i];
    }
    this.fixedTotalBits = total;
    this.refProps = refs;
    this.isRef = isRef;
    this.validate = validate;
    this.fullMask = this.propCount === 32 ? -1 : (1 << this.propCount) - 1;
    this.viewProto = makeViewProto(this.keys);
    this.defaults = this.types.map((ty) => ty.default);
    let refMask = 0;
    for (const i of refs) refMask |= 1 << i;
    this.refMask = refMask;
  }

  /** The property names whose bits are set in `mask` (what an `update` event reports). */
  keysOf(mask: number): string[] {
    return this.keys.filter((_, i) => mask & (1 << i));
  }
}

/**
 * Tracked views are plain objects whose prototype has one generated getter/setter pair per
 * property (chosen over a Proxy: V8 inlines accessors on a stable prototype, a Proxy trap costs
 * a call and a string key lookup per access). The setter forwards to the instance, which
 * compares, validates and marks the property dirty.
 */
function makeViewProto(keys: readonly string[]): object {
  const proto: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    Object.defineProperty(proto, keys[i], {
      enumerable: true,
      get(this: { $: { values: unknown[] } }) {
        return this.$.values[i];
      },
      set(this: { $: { set(i: number, v: unknown): void } }, v: unknown) {
        this.$.set(i, v);
      },
    });
  }
  Object.defineProperty(proto, 'toJSON', {
    value(this: { $: { values: unknown[] } }) {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) out[keys[i]] = this.$.values[i];
      return out;
    },
  });
  return proto;
}

/** The protocol's component kinds, in declaration order (the order is the wire kind index). */
export class ComponentRegistry {
  readonly kinds: readonly ComponentKind[];
  /** Bits of a component kind index on the wire. */
  readonly kindBits: number;
  private readonly byDef = new Map<AnyComponentDef, ComponentKind>();
  private readonly byName = new Map<string, ComponentKind>();
  /** One-entry cache of {@link kindOf}: game code mostly asks for the same kind in a row. */
  private lastDef: AnyComponentDef | null = null;
  private lastKind: ComponentKind | null = null;

  constructor(defs: readonly AnyComponentDef[]) {
    const kinds: ComponentKind[] = [];
    for (const def of defs) {
      if (this.byName.has(def.name)) throw new EncodeError(`component ${def.name} declared twice`);
      const k = new ComponentKind(kinds.length, def);
      kinds.push(k);
      this.byDef.set(def, k);
      this.byName.set(def.name, k);
    }
    this.kinds = kinds;
    this.kindBits = Math.max(1, Math.ceil(Math.log2(Math.max(2, kinds.length))));
  }

  kindOf(def: AnyComponentDef): ComponentKind {
    if (def === this.lastDef) return this.lastKind!;
    const k = this.byDef.get(def);
    if (!k) throw new EncodeError(`component ${def.name} is not registered in this world`);
    this.lastDef = def;
    this.lastKind = k;
    return k;
  }

  byNameOf(name: string): ComponentKind | undefined {
    return this.byName.get(name);
  }
}
