/**
 * Small helpers over prom-client shared by the server's and the proxy's metrics. Counters the
 * code already keeps (plain numbers in `stats`) are read at scrape time instead of being
 * incremented twice on hot paths: a counter's `collect` copies the current totals in.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** One labelled sample: label values and the number. */
export type Sample<L extends string> = readonly [labels: Partial<Record<L, string>>, value: number];

/** A counter whose value is read from `read()` at each scrape (the totals only ever grow). */
export function scrapedCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<Sample<L>>,
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}

/** A gauge whose value is read from `read()` at each scrape. */
export function scrapedGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<Sample<L>>,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** Samples of every numeric field of a flat record, labelled `label=<field name>`. */
export function byKey<L extends string>(label: L, record: Record<string, number>): Sample<L>[] {
  return Object.entries(record).map(([k, v]) => [{ [label]: k } as Partial<Record<L, string>>, v]);
}

/** Histogram buckets for link round trips, seconds (loopback to intercontinental). */
export const RTT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6];
