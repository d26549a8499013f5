import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWithRedis } from '../../test/helpers/redis.js';
import { runRedisDemo } from './redisDemo.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describeWithRedis('baton demo --redis', () => {
  it('two proxies, four backends on a local Redis: players migrate to the other machine’s backends, none lost', async () => {
    const lines: string[] = [];
    const ok = await runRedisDemo({
      durationSeconds: 3,
      bots: 4,
      migrateEverySeconds: 1,
      log: (l) => lines.push(l),
    });
    const text = lines.join('\n');
    expect(text).toMatch(/proxy-1: .*sees 4 backends in the shared pool, seamless: true/);
    expect(text).toMatch(/proxy-2: .*sees 4 backends in the shared pool, seamless: true/);
    const across = Number(/across machines (\d+), failed 0/.exec(text)?.[1] ?? -1);
    expect(across).toBeGreaterThan(0);
    expect(text).toMatch(/inputs lost: 0$/);
    expect(ok).toBe(true);
    const dir = /its folder (\S+) is removed/.exec(text)?.[1];
    expect(dir && existsSync(dir)).toBe(false);
  }, 60_000);

  it('SIGTERM as a child process: closes everything, stops Redis, removes its folder', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/baton.ts', 'demo', '--redis', '--duration', '60'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // bounded: 600 × 50 ms
    for (let i = 0; i < 600 && !/bots playing/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/bots playing/);
    child.kill('SIGTERM');
    const code = await exited;
    expect(out).toMatch(/stopping \(signal\)/);
    expect(out).toMatch(/inputs lost: 0/);
    expect(out).not.toMatch(/Error/);
    expect(code).toBe(0);
    const dir = /its folder (\S+) is removed/.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  }, 60_000);
});
