/**
 * Timing helpers for `bench/run.ts`.
 *
 * Machines are noisy, so no figure here is a single measurement: each is the median over
 * repeated trials, and every figure is measured beside a baseline in the same run, with trials
 * of subject and baseline interleaved so drift (thermal, other processes, GC) hits both alike.
 * The ratio between the two is what to read; absolute numbers only compare on one machine.
 */

/** One line of the result table (and one object of the `--json` array). */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** Name of the peer measured in the same run, or null for a reference row. */
  baseline: string | null;
  baselineValue: number | null;
  /** value / baselineValue. Whether higher is better depends on the unit (ops/s vs µs). */
  ratio: number | null;
}

/** How long to measure; `--quick` shrinks everything for a smoke run. */
export interface BenchContext {
  quick: boolean;
  /** Trials per figure (the median is reported). */
  trials: number;
  /** Target duration of one trial, ms. */
  trialMs: number;
  /** Warm-up before the first trial (JIT, caches), ms. */
  warmupMs: number;
  /** Progress and notes go to stderr so `--json` output on stdout stays clean. */
  log(message: string): void;
}

/** A benchmark module registered in `bench/run.ts`. */
export interface BenchModule {
  name: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

export function createContext(quick: boolean, log: (m: string) => void): BenchContext {
  return quick
    ? { quick, trials: 5, trialMs: 60, warmupMs: 50, log }
    : { quick, trials: 15, trialMs: 250, warmupMs: 500, log };
}

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new Error('percentile of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

/** A table row; with a baseline, the ratio is value / baseline value. */
export function row(
  name: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
): BenchRow {
  if (!baseline) return { name, value, unit, baseline: null, baselineValue: null, ratio: null };
  const ratio = baseline.value === 0 ? null : value / baseline.value;
  return { name, value, unit, baseline: baseline.name, baselineValue: baseline.value, ratio };
}

/**
 * A unit of work: perform `n` operations and return something derived from the results, so the
 * JIT cannot drop the work as dead code.
 */
export type Work = (n: number) => number;

/** Results are folded in here; reading it at the end keeps every Work observable. */
let sink = 0;
export function consume(x: number): void {
  sink = (sink + x) | 0;
}
export function sinkValue(): number {
  return sink;
}

function timeMs(work: Work, n: number): number {
  const start = performance.now();
  consume(work(n));
  return performance.now() - start;
}

/** Iterations of `work` that take about `ms` milliseconds. */
function calibrate(work: Work, ms: number): number {
  let n = 1;
  for (;;) {
    const elapsed = timeMs(work, n);
    if (elapsed >= 5 || n >= 2 ** 30) return Math.max(1, Math.round((n * ms) / Math.max(elapsed, 1e-3)));
    n *= 2;
  }
}

function warmup(work: Work, ms: number): void {
  const end = performance.now() + ms;
  let n = 1;
  while (performance.now() < end) {
    timeMs(work, n);
    n = Math.min(n * 2, 1 << 16);
  }
}

/**
 * A unit of work that times itself: perform `n` operations and return the milliseconds spent in
 * the part that is being measured (setup and teardown around each operation are left out).
 */
export type TimedWork = (n: number) => number;

/** A {@link Work} as a {@link TimedWork} whose whole call is the timed part. */
export function wholeCall(work: Work): TimedWork {
  return (n) => timeMs(work, n);
}

/**
 * Like {@link compareOps}, for work that times itself ({@link TimedWork}): operations per
 * second of the timed part, median over `ctx.trials` interleaved trials each.
 */
export function compareTimedOps(
  ctx: BenchContext,
  subject: TimedWork,
  baseline: TimedWork,
): { subject: number; baseline: number } {
  const warm = (work: TimedWork) => {
    const end = performance.now() + ctx.warmupMs;
    let n = 1;
    while (performance.now() < end) {
      work(n);
      n = Math.min(n * 2, 1 << 16);
    }
  };
  const cal = (work: TimedWork) => {
    let n = 1;
    for (;;) {
      const elapsed = work(n);
      if (elapsed >= 5 || n >= 2 ** 30)
        return Math.max(1, Math.round((n * ctx.trialMs) / Math.max(elapsed, 1e-3)));
      n *= 2;
    }
  };
  warm(subject);
  warm(baseline);
  const nS = cal(subject);
  const nB = cal(baseline);
  const s: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ctx.trials; i++) {
    s.push(nS / (subject(nS) / 1000));
    b.push(nB / (baseline(nB) / 1000));
  }
  return { subject: median(s), baseline: median(b) };
}

/**
 * Throughput of `subject` and `baseline` in operations per second: the median over
 * `ctx.trials` trials each, subject and baseline trials alternating.
 */
export function compareOps(
  ctx: BenchContext,
  subject: Work,
  baseline: Work,
): { subject: number; baseline: number } {
  warmup(subject, ctx.warmupMs);
  warmup(baseline, ctx.warmupMs);
  const nS = calibrate(subject, ctx.trialMs);
  const nB = calibrate(baseline, ctx.trialMs);
  const s: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ctx.trials; i++) {
    s.push(nS / (timeMs(subject, nS) / 1000));
    b.push(nB / (timeMs(baseline, nB) / 1000));
  }
  return { subject: median(s), baseline: median(b) };
}

/** Formats a number for the table: 3 significant digits, thousands separated. */
export function fmt(x: number | null): string {
  if (x === null) return '—';
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** The rows as an aligned text table. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['name', 'value', 'unit', 'baseline', 'baseline value', 'ratio'];
  const cells = rows.map((r) => [
    r.name,
    fmt(r.value),
    r.unit,
    r.baseline ?? '—',
    fmt(r.baselineValue),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const numeric = [false, true, false, false, true, true];
  const line = (c: string[]) =>
    c
      .map((x, i) => (numeric[i] ? x.padStart(widths[i]) : x.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
