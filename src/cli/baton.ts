#!/usr/bin/env node
/**
 * The `baton` command. Subcommands: `demo` (proxy + two backends + bots migrating on
 * 127.0.0.1; `--direct` one server, `--cluster` referrals) and `trace` (print a recorded proxy
 * trace). Benchmarks run with `npm run bench`.
 */
import { parseArgs } from 'node:util';
import { runClusterDemo } from './clusterDemo.js';
import { runDemo } from './demo.js';
import { runMigrationDemo } from './migrationDemo.js';
import { runTrace } from './trace.js';

const USAGE = `usage: baton demo [--duration <s>] [--transport udp|ws] [--bots <n>] [--page-port <n>] [--direct | --cluster]
         (default: proxy + two backends, bots migrated seamlessly, and a page on 127.0.0.1 that
          draws them and lets you play, at --page-port (default: any free port; the URL is printed);
          --direct: one server; --cluster: referral transfers)
       baton trace <file> [--session <id>]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'trace') return runTrace(rest);
  if (command !== 'demo') {
    console.error(USAGE);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      duration: { type: 'string', default: '10' },
      transport: { type: 'string', default: 'udp' },
      bots: { type: 'string', default: '4' },
      cluster: { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
      'page-port': { type: 'string', default: '0' },
    },
  });
  const durationSeconds = Number(values.duration);
  const bots = Number(values.bots);
  const transport = values.transport;
  const pagePort = Number(values['page-port']);
  if (
    !Number.isInteger(pagePort) ||
    pagePort < 0 ||
    pagePort > 65535 ||
    !(durationSeconds > 0) ||
    !Number.isInteger(bots) ||
    bots < 1 ||
    (transport !== 'udp' && transport !== 'ws')
  ) {
    console.error(USAGE);
    return 2;
  }
  if (values.cluster) await runClusterDemo({ durationSeconds, bots, transport });
  else if (values.direct) await runDemo({ durationSeconds, bots, transport });
  else
    return (await runMigrationDemo({ durationSeconds, bots, transport, page: { port: pagePort } })) ? 0 : 1;
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
