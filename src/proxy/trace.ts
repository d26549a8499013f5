/**
 * Proxy trace: an optional record of every packet of chosen sessions, one JSON object per
 * line: `{"t":12.5,"s":3,"hop":"client","dir":"in","kind":"ViewRadius","size":5}` where `t` is
 * ms since the trace started, `s` the proxy session id, `hop` which side of the proxy
 * (`client` or `backend`), `dir` seen from the proxy (`in` received, `out` sent), `kind` the
 * packet kind (a session packet type, `message:<channel>`, `world`, or a mux frame name) and
 * `size` its bytes.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

export type TraceHop = 'client' | 'backend';
export type TraceDirection = 'in' | 'out';

/** One traced packet. */
export interface TraceRecord {
  readonly t: number;
  readonly s: number;
  readonly hop: TraceHop;
  readonly dir: TraceDirection;
  readonly kind: string;
  readonly size: number;
}

/** Appends trace records to a file. */
export class TraceWriter {
  private readonly out: WriteStream;
  private readonly start = performance.now();
  records = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a' });
    this.out.on('error', () => {});
  }

  write(s: number, hop: TraceHop, dir: TraceDirection, kind: string, size: number): void {
    const t = Math.round((performance.now() - this.start) * 1000) / 1000;
    this.out.write(`${JSON.stringify({ t, s, hop, dir, kind, size })}\n`);
    this.records++;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}

/** Read a trace file; lines that are not trace records are skipped. `session` keeps one session. */
export function readTrace(path: string, session?: number): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isRecord(r)) continue;
    if (session === undefined || r.s === session) out.push(r);
  }
  return out;
}

function isRecord(r: unknown): r is TraceRecord {
  const o = r as Record<string, unknown>;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.t === 'number' &&
    typeof o.s === 'number' &&
    (o.hop === 'client' || o.hop === 'backend') &&
    (o.dir === 'in' || o.dir === 'out') &&
    typeof o.kind === 'string' &&
    typeof o.size === 'number'
  );
}

/**
 * A session's sequence as text lines: `   12.500  client → proxy   ViewRadius (5 B)`. Arrows
 * read from the proxy's place between the client and its backend.
 */
export function formatTrace(records: readonly TraceRecord[]): string[] {
  const sessions = new Map<number, TraceRecord[]>();
  for (const r of records) {
    let list = sessions.get(r.s);
    if (!list) {
      list = [];
      sessions.set(r.s, list);
    }
    list.push(r);
  }
  const lines: string[] = [];
  for (const [s, list] of [...sessions].sort((a, b) => a[0] - b[0])) {
    lines.push(`session ${s}: ${list.length} packets`);
    for (const r of list) {
      const arrow =
        r.hop === 'client'
          ? r.dir === 'in'
            ? 'client  → proxy  '
            : 'client  ← proxy  '
          : r.dir === 'in'
            ? 'proxy   ← backend'
            : 'proxy   → backend';
      lines.push(`${r.t.toFixed(3).padStart(12)}  ${arrow}  ${r.kind} (${r.size} B)`);
    }
  }
  return lines;
}
