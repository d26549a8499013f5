/**
 * A real `redis-server` for the Redis tests: one per test file, started on a free port with no
 * persistence and stopped after the file. The Redis code is tested against the real thing only:
 * a machine without the binary fails these tests with the command that installs it (`.ci/run`
 * installs it), rather than skipping them and passing without having tested anything.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { hasRedisServer, type LocalRedis, startLocalRedis } from '../../src/cli/localRedis.js';

/** `describe` whose tests fail with the reason when `redis-server` is missing. */
export function describeWithRedis(name: string, body: () => void): void {
  describe(name, () => {
    beforeAll(() => {
      if (!hasRedisServer())
        throw new Error(
          'redis-server not found (PATH or $BATON_REDIS_SERVER): the Redis tests need it (apt-get install redis-server)',
        );
    });
    body();
  });
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
