/**
 * The proxy's config file (`baton proxy --config <file>`, JSON or YAML), as a zod schema.
 * Paths in it are relative to the file. Every field is described in `docs/proxy-config.md`.
 */
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);
const ms = z.number().int().positive();
/** A shared store: in this process (`memory`), or Redis (`redis://…`, `rediss://…`). */
const store = z.union([z.literal('memory'), z.string().regex(/^rediss?:\/\//, 'memory or a redis:// URL')]);

const udpListener = z.strictObject({ type: z.literal('udp'), host: host.default('127.0.0.1'), port });
const wsListener = z.strictObject({
  type: z.literal('ws'),
  host: host.default('127.0.0.1'),
  port,
  path: z.string().startsWith('/').optional(),
});
const wssListener = z.strictObject({
  type: z.literal('wss'),
  host: host.default('127.0.0.1'),
  port,
  path: z.string().startsWith('/').optional(),
  /** PEM certificate and key files of the public TLS endpoint. */
  cert: z.string().min(1),
  key: z.string().min(1),
});

const backend = z.strictObject({
  id: z.string().min(1).max(64),
  pool: z.string().min(1).default('default'),
  host,
  port: port.min(1),
  capacity: z.number().int().positive().default(1000),
  /** PEM file of the backend's Ed25519 ticket public key (needed for seamless migration). */
  ticketPublicKey: z.string().min(1).optional(),
});

const pool = z.strictObject({
  name: z.string().min(1),
  /** Players of this pool move seamlessly (default true): every backend must then have a ticket key. */
  seamlessMigration: z.boolean().default(true),
});

const timeouts = z.strictObject({
  prepare: ms.optional(),
  auth: ms.optional(),
  sync: ms.optional(),
  freeze: ms.optional(),
  cutover: ms.optional(),
  resume: ms.optional(),
});

const shape = z.strictObject({
  /** This proxy's id (issuer of its referral tokens; the CN backends may check). */
  id: z.string().min(1).max(64).default('proxy'),
  /** The module that exports the game's protocol (`defineProtocol`), and the export's name. */
  protocol: z.strictObject({ module: z.string().min(1), export: z.string().min(1).default('protocol') }),
  /** How players are authenticated. */
  auth: z.discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('offline') }),
    z.strictObject({
      mode: z.literal('ed25519'),
      /** Identity-token issuers: key id → PEM file of the Ed25519 public key. */
      issuers: z.record(z.string().min(1), z.string().min(1)).refine((r) => Object.keys(r).length > 0, {
        message: 'at least one issuer',
      }),
    }),
  ]),
  listeners: z.array(z.discriminatedUnion('type', [udpListener, wsListener, wssListener])).min(1),
  /** Mutual TLS towards backends: this proxy's client certificate and key, the CA backends chain to (PEM files). */
  backendTls: z.strictObject({
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().min(1),
    servername: z.string().min(1).optional(),
  }),
  pools: z
    .array(pool)
    .min(1)
    .default([{ name: 'default', seamlessMigration: true }]),
  /** Backends known from the start (with a `memory` registry, the only ones). */
  backends: z.array(backend).default([]),
  registry: store.default('memory'),
  ticketKeys: store.default('memory'),
  nonceStore: store.default('memory'),
  /** Prefix of every Redis key and channel: every proxy and backend of one cluster uses the same. */
  redisPrefix: z.string().min(1).default('baton:'),
  /** The admin HTTP endpoint (sessions, stats, migrate, drain, metrics). */
  admin: z
    .strictObject({ host: host.default('127.0.0.1'), port, token: z.string().min(16).optional() })
    .optional(),
  /** Prometheus metrics on a port of their own (they are also on the admin endpoint's `/metrics`). */
  metrics: z.strictObject({ host: host.default('127.0.0.1'), port }).optional(),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
  limits: z
    .strictObject({
      maxPlayers: z.number().int().positive().optional(),
      handshakeTimeoutMs: ms.optional(),
      heartbeatIntervalMs: ms.optional(),
      backendTimeoutMs: ms.optional(),
    })
    .default({}),
  migration: z
    .strictObject({
      timeouts: timeouts.default({}),
      overlapMs: z.number().int().min(0).optional(),
      maxBufferedFrames: z.number().int().positive().optional(),
      maxBufferedBytes: z.number().int().positive().optional(),
      maxGlobalBufferedBytes: z.number().int().positive().optional(),
    })
    .default({ timeouts: {} }),
});

/**
 * The config schema with the checks across fields: backends name known pools, ids are unique,
 * and a pool that claims seamless migration can sign and verify tickets — a startup error, not
 * a first-migration failure.
 */
export const proxyConfigSchema = shape.superRefine((c, ctx) => {
  const pools = new Set<string>();
  c.pools.forEach((p, i) => {
    if (pools.has(p.name))
      ctx.addIssue({ code: 'custom', path: ['pools', i, 'name'], message: `duplicate pool '${p.name}'` });
    pools.add(p.name);
  });
  const ids = new Set<string>();
  c.backends.forEach((b, i) => {
    if (ids.has(b.id))
      ctx.addIssue({ code: 'custom', path: ['backends', i, 'id'], message: `duplicate backend '${b.id}'` });
    ids.add(b.id);
    if (!pools.has(b.pool))
      ctx.addIssue({
        code: 'custom',
        path: ['backends', i, 'pool'],
        message: `unknown pool '${b.pool}' (not in pools)`,
      });
  });
  const memoryRegistry = c.registry === 'memory';
  c.pools.forEach((p, i) => {
    const members = c.backends.map((b, j) => ({ b, j })).filter(({ b }) => b.pool === p.name);
    if (memoryRegistry && members.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['pools', i],
        message: `pool '${p.name}' has no backends (with a memory registry, list them under backends)`,
      });
    if (!p.seamlessMigration || c.ticketKeys !== 'memory') return;
    for (const { b, j } of members) {
      if (b.ticketPublicKey === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['backends', j, 'ticketPublicKey'],
          message: `pool '${p.name}' claims seamless migration, but backend '${b.id}' has no ticket public key to verify its tickets (give one, or set pools[${i}].seamlessMigration to false)`,
        });
    }
  });
});

/** A validated config (defaults filled in). */
export type ProxyConfig = z.infer<typeof proxyConfigSchema>;
/** A config as written in the file. */
export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;
