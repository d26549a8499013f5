/**
 * `baton proxy --config <file>`: run a proxy as a service. The config is validated and every
 * problem printed with its path before anything binds (exit 2). Logs are JSON lines (pino) on
 * stdout. SIGTERM or Ctrl-C: stop accepting, disconnect players with a reason, close every
 * listener and backend link, exit 0.
 */
import { pino } from 'pino';
import { ConfigError, loadProxyConfig } from '../proxy/config/index.js';
import { proxyFromConfig } from './proxyFromConfig.js';
import { shutdownSignal } from './signals.js';
import { UsageError } from './usage.js';

export const PROXY_USAGE = `usage: baton proxy --config <file.json|file.yaml>
  Runs a proxy from a config file (see docs/proxy-config.md). Logs are JSON lines on stdout.
  SIGTERM / Ctrl-C: players are disconnected with a reason, everything closes, exit 0.`;

export async function runProxyCommand(values: { config?: string }): Promise<number> {
  if (!values.config) throw new UsageError('baton proxy: --config <file> is required', PROXY_USAGE);
  const file = values.config;
  let logger: pino.Logger | undefined;
  try {
    const config = loadProxyConfig(file);
    logger = pino({ level: config.log.level });
    const { proxy, closeStores } = await proxyFromConfig(config, file, logger);
    // a pool that claims seamless migration must be able to do it from the first player on
    const unable: string[] = [];
    for (const [i, p] of config.pools.entries()) {
      if (!p.seamlessMigration) continue;
      const status = await proxy.poolStatus(p.name);
      if (!status.seamlessMigration && status.reason !== 'no backends')
        unable.push(`pools[${i}]: pool '${p.name}' claims seamless migration but cannot: ${status.reason}`);
    }
    if (unable.length > 0) throw new ConfigError(file, unable);
    const stop = shutdownSignal((name) => logger?.info({ signal: name }, 'shutting down'));
    try {
      const addresses = await proxy.start();
      logger.info(
        {
          listeners: addresses.map((a) => a.url ?? `${a.transport}://${a.host}:${a.port}`),
          admin: proxy.adminPort,
          metrics: proxy.metricsPort,
          pools: await Promise.all(config.pools.map((p) => proxy.poolStatus(p.name))),
        },
        'proxy listening',
      );
      await new Promise<void>((resolve) =>
        stop.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      await proxy.close('proxy shutting down');
      await closeStores();
      logger.info({}, 'proxy closed');
      return 0;
    } finally {
      stop.dispose();
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`baton proxy: invalid config ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    logger?.flush();
  }
}
