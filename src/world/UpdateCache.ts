import type { ComponentInstance } from './Entity.js';
import { FrameWriter } from './FrameWriter.js';
import { writeProp } from './propWriter.js';

/** Generations are unique across caches, so an instance's stamp can never match a stale one. */
let generation = 0;

/**
 * One step's update bodies (`kind`, `mask`, values — everything of an update but the per-peer
 * `more` bit and entity id), each encoded once and shared by every connection that sends that
 * instance with the same mask.
 *
 * Why: with U users seeing the same C changed components, per-connection encoding costs
 * U × C value encodings per step; here it is C encodings plus U × C word copies. A connection
 * whose accumulated mask differs from the step's (a resend after loss, a thaw, a component whose
 * changes waited for its insert to be acknowledged) encodes its own update as before, and so do
 * entity references, whose wire form depends on the connection. The bytes are identical either
 * way (`shared.test.ts` holds this).
 *
 * The cache entry lives on the instance ({@link ComponentInstance.encGen} and friends), so a
 * lookup is two field reads, and bodies are word-aligned in one reused {@link FrameWriter}.
 */
export class UpdateCache {
  private readonly writer = new FrameWriter(16384);
  /** Current generation: bodies stamped with another one are stale. */
  gen = 0;

  constructor(private readonly kindBits: number) {}

  /** Start a step: forget every body (values may have changed since). */
  begin(): void {
    this.writer.reset();
    this.gen = ++generation;
  }

  /** The words holding the bodies (re-read after {@link encode}: growth replaces the buffer). */
  get words(): Uint32Array {
    return this.writer.wordBuffer;
  }

  /**
   * Encode `inst`'s update body for `mask` (no entity-reference bits) and stamp it on the
   * instance: `encWord` is its first word, `encBits` its length, `encMask` the mask.
   */
  encode(inst: ComponentInstance, mask: number): void {
    const w = this.writer;
    const kind = inst.kind;
    const values = inst.values;
    const start = w.wordCount;
    const kb = this.kindBits;
    // kind index then mask, LSB first: one write when both fit a word (the same bits)
    if (kb + kind.propCount <= 32)
      w.writeBits(kind.index | ((mask & kind.fullMask) << kb), kb + kind.propCount);
    else {
      w.writeBits(kind.index, kb);
      w.writeBits(mask, kind.propCount);
    }
    for (let i = 0; i < kind.propCount; i++) if (mask & (1 << i)) writeProp(w, kind, i, values[i]);
    inst.encBits = w.bitLength - start * 32;
    w.alignToWord();
    inst.encGen = this.gen;
    inst.encWord = start;
    inst.encMask = mask;
  }
}
