/**
 * Runs the registered benchmark modules and prints one table.
 *
 *   npx tsx bench/run.ts                 all modules, full length
 *   npx tsx bench/run.ts --quick         short smoke run (< 60 s)
 *   npx tsx bench/run.ts codec           only modules whose name matches
 *   npx tsx bench/run.ts --json          rows as a JSON array on stdout (table on stderr)
 *   npx tsx bench/run.ts --json=out.json rows to a file, table on stdout
 *
 * See bench/README.md for how to read the numbers.
 */
import { writeFileSync } from 'node:fs';
import { codecBench } from './codec.bench.js';
import { delegationBench } from './delegation.bench.js';
import { type BenchModule, type BenchRow, createContext, formatTable, sinkValue } from './harness.js';
import { migrationBench } from './migration.bench.js';
import { proxyBench } from './proxy.bench.js';
import { udpBench } from './udp.bench.js';
import { webrtcBench } from './webrtc.bench.js';
import { worldBench } from './world.bench.js';

/** Every benchmark module, in the order they run. Register new ones here. */
export const MODULES: readonly BenchModule[] = [
  codecBench,
  udpBench,
  proxyBench,
  worldBench,
  migrationBench,
  delegationBench,
  webrtcBench,
];

interface Args {
  quick: boolean;
  /** undefined: no JSON; '-': stdout; otherwise a file path. */
  json: string | undefined;
  filters: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, json: undefined, filters: [] };
  for (const a of argv) {
    if (a === '--quick') args.quick = true;
    else if (a === '--json') args.json = '-';
    else if (a.startsWith('--json=')) args.json = a.slice('--json='.length) || '-';
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: tsx bench/run.ts [--quick] [--json[=path]] [module-name ...]\n');
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else args.filters.push(a);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const jsonToStdout = args.json === '-';
  // with JSON on stdout, everything human-readable goes to stderr
  const out = (s: string) => (jsonToStdout ? process.stderr : process.stdout).write(`${s}\n`);
  const log = (s: string) => process.stderr.write(`  ${s}\n`);
  const ctx = createContext(args.quick, log);

  const selected = MODULES.filter(
    (m) => args.filters.length === 0 || args.filters.some((f) => m.name.includes(f)),
  );
  if (selected.length === 0) throw new Error(`no benchmark matches ${args.filters.join(', ')}`);

  out(
    `baton bench — node ${process.version}, ${args.quick ? 'quick' : 'full'} run, ` +
      `median of ${ctx.trials} trials per figure, ratio = value / baseline`,
  );
  const rows: BenchRow[] = [];
  const started = performance.now();
  for (const m of selected) {
    const t0 = performance.now();
    log(`running ${m.name} …`);
    rows.push(...(await m.run(ctx)));
    log(`${m.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  out('');
  out(formatTable(rows));
  out('');
  out(`total ${((performance.now() - started) / 1000).toFixed(1)} s (checksum ${sinkValue()})`);

  if (args.json !== undefined) {
    const text = `${JSON.stringify(rows, null, 2)}\n`;
    if (jsonToStdout) process.stdout.write(text);
    else writeFileSync(args.json, text);
  }
}

main().catch((error) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
