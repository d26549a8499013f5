import { type Infer, type Schema, SchemaCodec } from './Schema.js';

/** A message kind a protocol declares: a name and a schema. */
export interface MessageDef<S extends Schema = Schema> {
  readonly kind: 'message';
  readonly name: string;
  readonly codec: SchemaCodec<S>;
  /** Phantom: the value type, for inference only. */
  readonly _value?: Infer<S>;
}

/** A component kind a protocol declares: a name and a schema of replicated properties. */
export interface ComponentDef<S extends Schema = Schema> {
  readonly kind: 'component';
  readonly name: string;
  readonly codec: SchemaCodec<S>;
  readonly _value?: Infer<S>;
}

/** Declare a message kind. `const Input = message('Input', { seq: t.u32 })`. */
export function message<S extends Schema>(name: string, schema: S): MessageDef<S> {
  return { kind: 'message', name, codec: new SchemaCodec(schema) };
}

/** Declare a component kind. `const Position = component('Position', { x: t.f32, y: t.f32 })`. */
export function component<S extends Schema>(name: string, schema: S): ComponentDef<S> {
  return { kind: 'component', name, codec: new SchemaCodec(schema) };
}
