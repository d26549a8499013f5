import { parseArgs } from 'node:util';
import { formatTrace, readTrace } from '../proxy/trace.js';

/** `baton trace <file> [--session <id>]`: print the packet sequence of each traced session. */
export function runTrace(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { session: { type: 'string' } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: baton trace <file> [--session <id>]');
    return 2;
  }
  const session = values.session === undefined ? undefined : Number(values.session);
  for (const line of formatTrace(readTrace(file, session))) console.log(line);
  return 0;
}
