import type { BitReader } from './BitReader.js';
import type { BitWriter } from './BitWriter.js';
import type { PropType, ValueOf } from './types.js';

/** Named, ordered fields. Declaration order is wire order. */
export type Schema = Record<string, PropType<any>>;

/** The plain object type a schema describes. */
export type Infer<S extends Schema> = { [K in keyof S]: ValueOf<S[K]> };

/**
 * Encodes and decodes whole records of a schema (messages, full component state).
 * Field order is fixed at construction so encoding never depends on object key order.
 */
export class SchemaCodec<S extends Schema> {
  readonly keys: readonly (keyof S & string)[];
  readonly types: readonly PropType<any>[];

  constructor(readonly schema: S) {
    this.keys = Object.keys(schema) as (keyof S & string)[];
    this.types = this.keys.map((k) => schema[k]);
  }

  /** Stable description for the protocol hash. */
  get id(): string {
    return `{${this.keys.map((k, i) => `${k}:${this.types[i].id}`).join(',')}}`;
  }

  write(w: BitWriter, value: Infer<S>): void {
    for (let i = 0; i < this.keys.length; i++) this.types[i].write(w, value[this.keys[i]]);
  }

  read(r: BitReader): Infer<S> {
    const out = {} as Record<string, unknown>;
    for (let i = 0; i < this.keys.length; i++) out[this.keys[i]] = this.types[i].read(r);
    return out as Infer<S>;
  }

  /** A record holding every field's default, overlaid with `partial`. */
  create(partial?: Partial<Infer<S>>): Infer<S> {
    const out = {} as Record<string, unknown>;
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i];
      const given = partial?.[k];
      out[k] = given === undefined ? this.types[i].clone(this.types[i].default) : given;
    }
    return out as Infer<S>;
  }
}
