import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A `baton` command run from source (node --import tsx), its output collected. */
export interface BatonRun {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves to the exit code (or the signal's name) once it ends. */
  readonly exited: Promise<number | string>;
}

export function runBaton(args: string[], env: Record<string, string> = {}): BatonRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/baton.ts', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  const run: BatonRun = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1))),
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    run.stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    run.stderr += d;
  });
  return run;
}

/** Wait until `cond` holds, checking every 20 ms, at most `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Prometheus exposition text → sample values by `name{labels}` (as written). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
