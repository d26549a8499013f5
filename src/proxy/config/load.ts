/**
 * Reading and validating the proxy's config file: JSON, or YAML for `.yaml`/`.yml`. Every
 * problem is reported at once, each with its path in the file (`backends[1].port: …`), before
 * anything is bound.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type ProxyConfig, proxyConfigSchema } from './schema.js';

/** A config that cannot be used; `problems` are `path: message` lines, all of them. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
}

/** `backends[1].port` from zod's path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out === '' ? String(k) : `.${String(k)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** One line per issue, `path: message`; unknown keys are named one per line. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push(`${formatPath([...i.path, k])}: unknown field`);
    } else out.push(`${formatPath(i.path)}: ${i.message}`);
  }
  return out;
}

/** Validate an already parsed config object. Throws {@link ConfigError} listing every problem. */
export function validateProxyConfig(raw: unknown, file = 'config'): ProxyConfig {
  const r = proxyConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(file, formatIssues(r.error.issues));
  return r.data;
}

/** Read, parse and validate a config file. Throws {@link ConfigError} (unreadable, unparsable, or invalid). */
export function loadProxyConfig(file: string): ProxyConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`(file): cannot read: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    const ext = extname(file).toLowerCase();
    raw = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [
      `(file): not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(error as Error).message}`,
    ]);
  }
  return validateProxyConfig(raw, file);
}
