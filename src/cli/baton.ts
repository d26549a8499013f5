#!/usr/bin/env node
/**
 * The `baton` command. Subcommands: `proxy` (a proxy from a config file), `demo` (proxy + two
 * backends + bots migrating on 127.0.0.1; `--direct` one server, `--cluster` referrals,
 * `--rolling` a rolling restart) and `trace` (print a recorded proxy trace). `-h` on any of
 * them prints its usage; mistakes print the usage and exit 2, without a stack trace.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCerts } from './certs.js';
import { runClusterDemo } from './clusterDemo.js';
import { runDemo } from './demo.js';
import { runMigrationDemo } from './migrationDemo.js';
import { PROXY_USAGE, runProxyCommand } from './proxyCommand.js';
import { runRedisDemo } from './redisDemo.js';
import { runRollingDemo } from './rollingDemo.js';
import { shutdownSignal } from './signals.js';
import { runTrace, TRACE_USAGE } from './trace.js';
import { UsageError } from './usage.js';

const DEMO_USAGE = `usage: baton demo [--duration <s>] [--transport udp|ws] [--bots <n>] [--page-port <n>] [--migrations | --direct | --cluster | --redis]
  default: a rolling restart — one proxy, three backends (mutual TLS), bots playing while each
           backend in turn is drained (its players migrated seamlessly), stopped and started again
  --migrations: bots migrated back and forth between two backends, and a page on 127.0.0.1
               that draws them and lets you play (--page-port, default any free port; URL printed)
  --direct: one server, no proxy        --cluster: referral transfers every 3 s
  Ends by itself after --duration seconds (default 10), or on Ctrl-C.`;

const USAGE = `usage: baton <command> [options]     (baton <command> -h for its options)
  proxy --config <file>   run a proxy from a config file (JSON or YAML)
  demo [options]          everything on 127.0.0.1: proxy, backends, bots
  trace <file>            print a recorded proxy trace
  baton --version         print the version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Command-line parsing with usage errors instead of TypeErrors. */
function parsed<T>(parse: () => T, usage: string): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

async function demo(rest: string[]): Promise<number> {
  const { values } = parsed(
    () =>
      parseArgs({
        args: rest,
        options: {
          ...HELP,
          duration: { type: 'string', default: '10' },
          transport: { type: 'string', default: 'udp' },
          bots: { type: 'string', default: '4' },
          cluster: { type: 'boolean', default: false },
          direct: { type: 'boolean', default: false },
          migrations: { type: 'boolean', default: false },
          redis: { type: 'boolean', default: false },
          'page-port': { type: 'string', default: '0' },
        },
      }),
    DEMO_USAGE,
  );
  if (values.help) {
    console.log(DEMO_USAGE);
    return 0;
  }
  const durationSeconds = Number(values.duration);
  const bots = Number(values.bots);
  const transport = values.transport;
  if (!(durationSeconds > 0))
    throw new UsageError(`--duration must be a positive number of seconds`, DEMO_USAGE);
  if (!Number.isInteger(bots) || bots < 1)
    throw new UsageError(`--bots must be a positive integer`, DEMO_USAGE);
  if (transport !== 'udp' && transport !== 'ws')
    throw new UsageError(`--transport must be udp or ws`, DEMO_USAGE);
  const stop = shutdownSignal();
  try {
    const o = { durationSeconds, bots, transport, signal: stop.signal } as const;
    const pagePort = Number(values['page-port']);
    if (!Number.isInteger(pagePort) || pagePort < 0 || pagePort > 65535)
      throw new UsageError(`--page-port must be a port number`, DEMO_USAGE);
    if (values.redis) return (await runRedisDemo(o)) ? 0 : 1;
    if (values.cluster) await runClusterDemo(o);
    else if (values.direct) await runDemo(o);
    else if (values.migrations) return (await runMigrationDemo({ ...o, page: { port: pagePort } })) ? 0 : 1;
    else return (await runRollingDemo(o)) ? 0 : 1;
    return 0;
  } finally {
    stop.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'proxy': {
      const { values } = parsed(
        () => parseArgs({ args: rest, options: { ...HELP, config: { type: 'string', short: 'c' } } }),
        PROXY_USAGE,
      );
      if (values.help) {
        console.log(PROXY_USAGE);
        return 0;
      }
      return runProxyCommand(values);
    }
    case 'demo':
      return demo(rest);
    case 'certs':
      return runCerts(rest);
    case 'trace': {
      const { values, positionals } = parsed(
        () =>
          parseArgs({
            args: rest,
            options: { ...HELP, session: { type: 'string' } },
            allowPositionals: true,
          }),
        TRACE_USAGE,
      );
      if (values.help) {
        console.log(TRACE_USAGE);
        return 0;
      }
      return runTrace(positionals, values);
    }
    case '--version':
    case '-v':
      console.log(version());
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command '${command}'`, USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    if (error instanceof UsageError) {
      console.error(`baton: ${error.message}\n${error.usage}`);
      process.exitCode = 2;
      return;
    }
    // an operational failure (a port in use, a file gone): one line, no stack; BATON_DEBUG=1 for it
    console.error(`baton: ${(error as Error)?.message ?? String(error)}`);
    if (process.env.BATON_DEBUG === '1') console.error(error);
    process.exitCode = 1;
  },
);
