/** Layer 0: bit-level encoding. Everything here is browser-safe. */
export { BitReader } from './BitReader.js';
export { BitWriter } from './BitWriter.js';
export { DecodeError, type DecodeErrorCode, EncodeError } from './DecodeError.js';
export { type ComponentDef, component, type MessageDef, message } from './definitions.js';
export { type Infer, type Schema, SchemaCodec } from './Schema.js';
export { type PropType, type QuantizedOptions, t, type ValueOf } from './types.js';
