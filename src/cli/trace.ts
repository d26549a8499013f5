import { formatTrace, readTrace } from '../proxy/trace.js';
import { UsageError } from './usage.js';

export const TRACE_USAGE = `usage: baton trace <file> [--session <id>]
  Prints the packet sequence of each session recorded in a proxy trace (ProxyOptions.trace).`;

/** `baton trace <file> [--session <id>]`: print the packet sequence of each traced session. */
export function runTrace(positionals: string[], values: { session?: string }): number {
  const file = positionals[0];
  if (!file || positionals.length > 1)
    throw new UsageError('baton trace: one trace file expected', TRACE_USAGE);
  const session = values.session === undefined ? undefined : Number(values.session);
  if (session !== undefined && !Number.isInteger(session))
    throw new UsageError('--session must be a session id (an integer)', TRACE_USAGE);
  for (const line of formatTrace(readTrace(file, session))) console.log(line);
  return 0;
}
