/**
 * A throwaway local `redis-server` for demos and tests: a free port on 127.0.0.1, no
 * persistence (`--save '' --appendonly no`), its working directory in a temporary folder that
 * `close()` removes.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running local Redis. */
export interface LocalRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Its working folder (removed by `close()`). */
  readonly dir: string;
  /** Stop the server and remove its folder. */
  close(): Promise<void>;
}

/** Whether a `redis-server` binary is on PATH. */
export function hasRedisServer(binary = 'redis-server'): boolean {
  const r = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

function startOnce(binary: string, port: number, dir: string, timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    // its own process group: a Ctrl-C at the terminal reaches us, and we stop it after
    // everything using it has closed (instead of it dying first under our feet)
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  return new Promise<ChildProcess>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n${output.slice(-2000)}`));
    };
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`redis-server exited (code ${code})`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (output.length < 64_000) output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve(child);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (output.length < 64_000) output += chunk.toString();
    });
  });
}

/**
 * Start `redis-server` on a free port of 127.0.0.1. Rejects when the binary is missing or does
 * not start (retrying a couple of times if another process takes the port first).
 */
export async function startLocalRedis(
  options: { binary?: string; timeoutMs?: number } = {},
): Promise<LocalRedis> {
  const binary = options.binary ?? 'redis-server';
  const dir = mkdtempSync(join(tmpdir(), 'baton-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const child = await startOnce(binary, port, dir, options.timeoutMs ?? 10_000);
      let closing: Promise<void> | undefined;
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        dir,
        close: () => {
          closing ??= new Promise<void>((resolve) => {
            const done = () => {
              rmSync(dir, { recursive: true, force: true });
              resolve();
            };
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill('SIGTERM');
          });
          return closing;
        },
      };
    } catch (error) {
      lastError = error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test(String(error))) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}
