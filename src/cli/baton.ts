#!/usr/bin/env node
/**
 * The `baton` command. Subcommands: `demo` (proxy + two backends + bots migrating on
 * 127.0.0.1; `--direct` one server, `--cluster` referrals) and `trace` (print a recorded proxy
 * trace). Benchmarks run with `npm run bench`.
 */
import { parseArgs } from 'node:util';
import { runCerts } from './certs.js';
import { runClusterDemo } from './clusterDemo.js';
import { runDemo } from './demo.js';
import { runMigrationDemo } from './migrationDemo.js';
import { runRedisDemo } from './redisDemo.js';
import { runTrace } from './trace.js';

const USAGE = `usage: baton demo [--duration <s>] [--transport udp|ws] [--bots <n>] [--direct | --cluster | --redis]
         (default: proxy + two backends, bots migrated seamlessly; --direct: one server;
          --cluster: referral transfers; --redis: 2 proxies x 4 backends on a local redis-server)
       baton trace <file> [--session <id>]
       baton certs --out <dir> [--backends b1,b2] [--proxies proxy-1]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'trace') return runTrace(rest);
  if (command === 'certs') return runCerts(rest);
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
      redis: { type: 'boolean', default: false },
    },
  });
  const durationSeconds = Number(values.duration);
  const bots = Number(values.bots);
  const transport = values.transport;
  if (
    !(durationSeconds > 0) ||
    !Number.isInteger(bots) ||
    bots < 1 ||
    (transport !== 'udp' && transport !== 'ws')
  ) {
    console.error(USAGE);
    return 2;
  }
  if (values.redis) return (await runRedisDemo({ durationSeconds, bots })) ? 0 : 1;
  if (values.cluster) await runClusterDemo({ durationSeconds, bots, transport });
  else if (values.direct) await runDemo({ durationSeconds, bots, transport });
  else return (await runMigrationDemo({ durationSeconds, bots, transport })) ? 0 : 1;
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
