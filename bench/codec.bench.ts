/**
 * serde throughput: baton's bit codec against JSON.stringify / JSON.parse of the same data.
 *
 * The data is what both can carry exactly: f32 fields hold `Math.fround` values (JSON prints
 * those with all the digits a double needs, which is the honest cost of sending them as text).
 * MB/s counts the bytes each side produces: baton's encoded bytes, JSON's UTF-8 text.
 */
import { BitReader, BitWriter, type Infer, SchemaCodec, t } from '../src/serde/index.js';
import { SeededRandom } from '../src/util/index.js';
import { type BenchContext, type BenchModule, type BenchRow, compareOps, row } from './harness.js';

/** The message record of the bench: an input plus a name and a position. */
export const RecordSchema = { seq: t.u32, dx: t.i8, dy: t.i8, name: t.string(32), x: t.f32, y: t.f32 };
const recordCodec = new SchemaCodec(RecordSchema);
type Rec = Infer<typeof RecordSchema>;

/** One entity of the position batch. */
const entityCodec = new SchemaCodec({ id: t.varuint, x: t.f32, y: t.f32 });
type Entity = Infer<typeof entityCodec.schema>;
const BATCH = 100;
const POOL = 256;

const utf8 = new TextEncoder();

function makeRecords(rng: SeededRandom): Rec[] {
  const names = ['ann', 'bob', 'player_4711', 'Zoë', 'xX_sniper_Xx', 'ünïcødé 🌞'];
  return Array.from({ length: POOL }, (_, i) => ({
    seq: 100_000 + i,
    dx: rng.int(-1, 1),
    dy: rng.int(-1, 1),
    name: names[i % names.length],
    x: Math.fround((rng.next() - 0.5) * 2000),
    y: Math.fround((rng.next() - 0.5) * 2000),
  }));
}

function makeBatches(rng: SeededRandom): Entity[][] {
  return Array.from({ length: 16 }, () =>
    Array.from({ length: BATCH }, (_, i) => ({
      id: 1000 + i * 7,
      x: Math.fround((rng.next() - 0.5) * 2000),
      y: Math.fround((rng.next() - 0.5) * 2000),
    })),
  );
}

function writeBatch(w: BitWriter, batch: Entity[]): void {
  w.writeVarUint(batch.length);
  for (const e of batch) entityCodec.write(w, e);
}

function readBatch(r: BitReader): Entity[] {
  const n = r.readVarUint();
  if (n > 1024) throw new Error('batch too large');
  const out: Entity[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = entityCodec.read(r);
  return out;
}

function encodeAll<T>(items: T[], write: (w: BitWriter, v: T) => void): Uint8Array[] {
  return items.map((v) => {
    const w = new BitWriter();
    write(w, v);
    return w.finish();
  });
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Encode/decode ops/s and MB/s rows for one kind of payload, baton vs JSON. */
function measure<T>(
  ctx: BenchContext,
  label: string,
  items: T[],
  write: (w: BitWriter, v: T) => void,
  read: (r: BitReader) => T,
  unitName: string,
): BenchRow[] {
  const encoded = encodeAll(items, write);
  const json = items.map((v) => JSON.stringify(v));
  const batonBytes = avg(encoded.map((b) => b.length));
  const jsonBytes = avg(json.map((s) => utf8.encode(s).length));
  const m = items.length;

  // encode: a reused writer, as a sender would; finish() copies out the bytes to send
  const w = new BitWriter(4096);
  const enc = compareOps(
    ctx,
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        w.reset();
        write(w, items[i % m]);
        acc += w.finish().length;
      }
      return acc;
    },
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += JSON.stringify(items[i % m]).length;
      return acc;
    },
  );
  const dec = compareOps(
    ctx,
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const v = read(new BitReader(encoded[i % m]));
        acc += v === undefined ? 0 : 1;
      }
      return acc;
    },
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const v = JSON.parse(json[i % m]);
        acc += v === undefined ? 0 : 1;
      }
      return acc;
    },
  );
  const mb = (ops: number, bytes: number) => (ops * bytes) / 1e6;
  const jsonEnc = `JSON.stringify`;
  const jsonDec = `JSON.parse`;
  return [
    row(`codec.${label}.encode.ops`, enc.subject, `${unitName}/s`, { name: jsonEnc, value: enc.baseline }),
    row(`codec.${label}.encode.MBps`, mb(enc.subject, batonBytes), 'MB/s', {
      name: jsonEnc,
      value: mb(enc.baseline, jsonBytes),
    }),
    row(`codec.${label}.decode.ops`, dec.subject, `${unitName}/s`, { name: jsonDec, value: dec.baseline }),
    row(`codec.${label}.decode.MBps`, mb(dec.subject, batonBytes), 'MB/s', {
      name: jsonDec,
      value: mb(dec.baseline, jsonBytes),
    }),
    row(`codec.${label}.size`, batonBytes, `bytes/${unitName}`, { name: 'JSON', value: jsonBytes }),
  ];
}

export const codecBench: BenchModule = {
  name: 'codec',
  async run(ctx) {
    const rng = new SeededRandom(42);
    const records = makeRecords(rng);
    const batches = makeBatches(rng);
    // check the codec round-trips the bench data before timing it
    const encoded = encodeAll(records, (w, v) => recordCodec.write(w, v));
    records.forEach((v, i) => {
      const back = recordCodec.read(new BitReader(encoded[i]));
      if (JSON.stringify(back) !== JSON.stringify(v))
        throw new Error('codec bench: record does not round-trip');
    });
    ctx.log('codec: record { seq: u32, dx: i8, dy: i8, name: string(32), x: f32, y: f32 }');
    const rows = measure(
      ctx,
      'record',
      records,
      (w, v) => recordCodec.write(w, v),
      (r) => recordCodec.read(r),
      'record',
    );
    ctx.log(`codec: batch of ${BATCH} entities { id: varuint, x: f32, y: f32 }`);
    rows.push(...measure(ctx, `batch${BATCH}`, batches, writeBatch, readBatch, 'batch'));
    return rows;
  },
};
