import { type ComponentKind, WriteCode } from './ComponentRegistry.js';
import type { FrameWriter } from './FrameWriter.js';

/**
 * Write property `i` of `kind` (not an entity reference). Common types call the FrameWriter
 * method directly — the one their `write` closure calls, so the bits and errors are the same —
 * which keeps this call site monomorphic on the hot paths (shared update bodies, spawns).
 */
export function writeProp(w: FrameWriter, kind: ComponentKind, i: number, v: unknown): void {
  switch (kind.writeCodes[i]) {
    case WriteCode.F32:
      w.writeF32(v as number);
      return;
    case WriteCode.U8:
      w.writeU8(v as number);
      return;
    case WriteCode.Bool:
      w.writeBool(v as boolean);
      return;
    case WriteCode.U16:
      w.writeU16(v as number);
      return;
    case WriteCode.F64:
      w.writeF64(v as number);
      return;
    default:
      kind.types[i].write(w, v);
  }
}
