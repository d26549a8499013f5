/**
 * A real `redis-server` for the Redis tests: one per test file, started on a free port with no
 * persistence and stopped after the file. Without the binary the tests are skipped with a
 * clear message — except under CI, where a missing binary fails them (`.ci/run` installs it).
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { hasRedisServer, type LocalRedis, startLocalRedis } from '../../src/cli/localRedis.js';

const available = hasRedisServer();
const inCi = process.env.CI === 'true' || process.env.CI === '1';
let warned = false;

/** `describe`, or a skip saying why when `redis-server` is missing outside CI. */
export function describeWithRedis(name: string, body: () => void): void {
  if (!available && !inCi) {
    if (!warned) {
      console.warn('redis-server not found on PATH: skipping the Redis tests (apt-get install redis-server)');
      warned = true;
    }
    describe.skip(`${name} (skipped: redis-server not on PATH)`, body);
    return;
  }
  describe(name, body);
}

/**
 * Start a redis-server for the enclosing describe (beforeAll) and stop it after (afterAll).
 * `prefix()` gives a fresh key prefix, so tests sharing the server never see each other's keys.
 */
export function useRedisServer(): { readonly url: string; prefix(): string } {
  let server: LocalRedis | undefined;
  let n = 0;
  beforeAll(async () => {
    server = await startLocalRedis();
  }, 30_000);
  afterAll(async () => {
    await server?.close();
  });
  return {
    get url(): string {
      if (!server) throw new Error('useRedisServer: the server starts in beforeAll');
      return server.url;
    },
    prefix: () => `t${process.pid}-${++n}:`,
  };
}
