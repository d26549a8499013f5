/**
 * A {@link Proxy} from a validated config (`baton proxy --config`): reads the PEM files, imports
 * the game's protocol module, builds the registry, ticket keys and nonce store, and checks what
 * the schema cannot (files exist and parse, the protocol is one, the stores are available) —
 * every problem at once, as a {@link ConfigError}, before anything is bound.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  generateEd25519KeyPair,
  InMemoryNonceStore,
  InMemoryRegistry,
  InMemoryTicketKeys,
  type NonceStore,
  RedisNonceStore,
  RedisRegistry,
  RedisTicketKeys,
  type Registry,
  type TicketKeys,
} from '../cluster/index.js';
import { ConfigError, type ProxyConfig } from '../proxy/config/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy, type ProxyOptions } from '../proxy/Proxy.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { Ed25519Authenticator } from '../session/node/Ed25519Authenticator.js';
import { Protocol } from '../session/Protocol.js';
import { toPublicKey } from '../session/trust/ed25519.js';
import { udpServer, websocketServer } from '../transport/index.js';
import type { DatagramServerTransport } from '../transport/types.js';
import type { Logger } from '../util/Logger.js';

/** What {@link proxyFromConfig} made. */
export interface ConfiguredProxy {
  readonly proxy: Proxy;
  readonly registry: Registry;
  /** Close whatever the config opened besides the proxy (stores). */
  closeStores(): Promise<void>;
}

/**
 * Build (not start) the proxy a config describes. `file` is the config's path: relative paths
 * in it are resolved against its folder.
 */
export async function proxyFromConfig(
  config: ProxyConfig,
  file: string,
  logger: Logger,
): Promise<ConfiguredProxy> {
  const base = dirname(resolve(file));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const problems: string[] = [];
  const readPem = (path: string, where: string): string => {
    try {
      const text = readFileSync(at(path), 'utf8');
      if (!text.includes('-----BEGIN ')) problems.push(`${where}: ${path} is not a PEM file`);
      return text;
    } catch (error) {
      problems.push(
        `${where}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      return '';
    }
  };
  const publicKey = (path: string, where: string) => {
    const pem = readPem(path, where);
    if (!pem) return undefined;
    try {
      return toPublicKey(pem);
    } catch (error) {
      problems.push(`${where}: ${path} is not an Ed25519 public key (${(error as Error).message})`);
      return undefined;
    }
  };

  const tls = {
    cert: readPem(config.backendTls.cert, 'backendTls.cert'),
    key: readPem(config.backendTls.key, 'backendTls.key'),
    ca: readPem(config.backendTls.ca, 'backendTls.ca'),
    servername: config.backendTls.servername,
  };

  const listen: DatagramServerTransport[] = [];
  config.listeners.forEach((l, i) => {
    if (l.type === 'udp') listen.push(udpServer({ host: l.host, port: l.port }));
    else if (l.type === 'ws') listen.push(websocketServer({ host: l.host, port: l.port, path: l.path }));
    else {
      const cert = readPem(l.cert, `listeners[${i}].cert`);
      const key = readPem(l.key, `listeners[${i}].key`);
      listen.push(websocketServer({ host: l.host, port: l.port, path: l.path, tls: { cert, key } }));
    }
  });

  let authenticator: ProxyOptions['authenticator'] = new OfflineAuthenticator();
  if (config.auth.mode === 'ed25519') {
    const keys: Record<string, ReturnType<typeof toPublicKey>> = {};
    for (const [id, path] of Object.entries(config.auth.issuers)) {
      const k = publicKey(path, `auth.issuers.${id}`);
      if (k) keys[id] = k;
    }
    authenticator = new Ed25519Authenticator({ publicKeys: keys });
  }

  const seamless = new Set(config.pools.filter((p) => p.seamlessMigration).map((p) => p.name));
  const ticketPublicKeys = new Map<string, ReturnType<typeof toPublicKey>>();
  config.backends.forEach((b, i) => {
    if (b.ticketPublicKey === undefined) return;
    const k = publicKey(b.ticketPublicKey, `backends[${i}].ticketPublicKey`);
    if (k) ticketPublicKeys.set(b.id, k);
  });

  let protocol: Protocol | undefined;
  const modulePath = at(config.protocol.module);
  try {
    const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
    const p = mod[config.protocol.export];
    if (p instanceof Protocol) protocol = p;
    else if (p && typeof p === 'object' && 'hash' in p && 'channels' in p && 'tickIntervalMs' in p)
      protocol = p as Protocol; // another copy of baton loaded the module: same shape
    else
      problems.push(
        `protocol.export: ${config.protocol.module} has no protocol export '${config.protocol.export}' (defineProtocol(...))`,
      );
  } catch (error) {
    problems.push(
      `protocol.module: cannot import ${config.protocol.module}: ${(error as Error).message.split('\n')[0]}`,
    );
  }

  if (problems.length > 0 || !protocol) throw new ConfigError(file, problems);

  const stores = await openStores(config, file);
  const { registry, ticketKeys, nonceStore } = stores;
  for (const b of config.backends) {
    const ticketKey = ticketPublicKeys.get(b.id);
    // only seamless pools publish ticket keys: the proxy then migrates there, and refers elsewhere
    if (ticketKey && seamless.has(b.pool)) await ticketKeys.publish(b.id, ticketKey);
    // a shared registry may know it already (the backend registered itself, with its load)
    if (config.registry !== 'memory' && (await registry.get(b.id))) continue;
    await registry.register({
      id: b.id,
      pool: b.pool,
      address: { host: b.host, port: b.port },
      capacity: b.capacity,
      // referral tokens a backend signs are checked against this key (its ticket key, or none usable)
      publicKey: ticketKey ?? generateEd25519KeyPair().publicKey,
    });
  }

  const admin = config.admin && {
    port: config.admin.port,
    host: config.admin.host,
    ...(config.admin.token ? { token: config.admin.token } : {}),
  };
  const proxy = new Proxy({
    protocol,
    id: config.id,
    listen,
    tls,
    registry,
    ticketKeys: seamless.size > 0 ? ticketKeys : undefined,
    referral: { nonceStore },
    authenticator,
    pools: config.pools.map((p) => p.name),
    admin,
    metrics: config.metrics ? { port: config.metrics.port, host: config.metrics.host } : undefined,
    logger,
    maxPlayers: config.limits.maxPlayers,
    handshakeTimeoutMs: config.limits.handshakeTimeoutMs,
    heartbeatIntervalMs: config.limits.heartbeatIntervalMs,
    backendTimeoutMs: config.limits.backendTimeoutMs,
    migration: {
      timeouts: config.migration.timeouts,
      overlapMs: config.migration.overlapMs,
      maxBufferedFrames: config.migration.maxBufferedFrames,
      maxBufferedBytes: config.migration.maxBufferedBytes,
      maxGlobalBufferedBytes: config.migration.maxGlobalBufferedBytes,
    },
  });
  return { proxy, registry, closeStores: stores.close };
}

/** How long the Redis stores may take to answer at startup before it is a config problem. */
const REDIS_STARTUP_MS = 5000;

/**
 * The registry, ticket keys and nonce store the config names: in this process (`memory`) or in
 * Redis. Each Redis store must answer within {@link REDIS_STARTUP_MS} — an unreachable Redis is
 * a startup problem naming the field, not a failure at the first player.
 */
async function openStores(
  config: ProxyConfig,
  file: string,
): Promise<{ registry: Registry; ticketKeys: TicketKeys; nonceStore: NonceStore; close(): Promise<void> }> {
  const prefix = config.redisPrefix;
  const opened: { close(): Promise<void> }[] = [];
  const problems: string[] = [];
  const probe = async (field: string, url: string, check: () => Promise<unknown>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${REDIS_STARTUP_MS} ms`)),
            REDIS_STARTUP_MS,
          );
        }),
      ]);
    } catch (error) {
      problems.push(`${field}: cannot use ${url}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  };
  let registry: Registry;
  if (config.registry === 'memory') registry = new InMemoryRegistry();
  else {
    const r = new RedisRegistry({ redis: config.registry, prefix });
    opened.push(r);
    registry = r;
    await probe('registry', config.registry, () => r.list());
  }
  let ticketKeys: TicketKeys;
  if (config.ticketKeys === 'memory') ticketKeys = new InMemoryTicketKeys();
  else {
    const t = new RedisTicketKeys({ redis: config.ticketKeys, prefix });
    opened.push(t);
    ticketKeys = t;
    await probe('ticketKeys', config.ticketKeys, () => t.publicKeyOf('\u0000startup-probe'));
  }
  let nonceStore: NonceStore;
  if (config.nonceStore === 'memory') nonceStore = new InMemoryNonceStore();
  else {
    const n = new RedisNonceStore({ redis: config.nonceStore, prefix });
    opened.push(n);
    nonceStore = n;
  }
  const close = async () => {
    for (const o of opened) await o.close().catch(() => {});
  };
  if (problems.length > 0) {
    await close();
    throw new ConfigError(file, problems);
  }
  return { registry, ticketKeys, nonceStore, close };
}
