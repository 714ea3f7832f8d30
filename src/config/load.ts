import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_CONFIG_PATH = 'config/hubsync.yaml';

/**
 * Parses and validates a configuration file's text. Pure: the environment is a parameter.
 * Throws one ConfigError that lists every problem with the path of its key.
 */
export function loadConfig(text: string, env: Env, source = 'config', options: LoadOptions = {}): Config {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(source, document.errors.map((error) => `yaml: ${error.message.split('\n')[0]}`));
  }
  const problems: string[] = [];
  const whole = (document.toJS() ?? {}) as Record<string, unknown>;
  const chosen = options.only ? Object.fromEntries(Object.entries(whole).filter(([key]) => options.only!.includes(key))) : whole;
  const raw = interpolate(chosen, env, [], problems);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    problems.push(...parsed.error.issues.flatMap(describeIssue));
  } else if (parsed.data.sandbox && env.NODE_ENV === 'production') {
    problems.push('sandbox: the built-in stand-in is refused when NODE_ENV=production');
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);
  return deepFreeze(parsed.data);
}

export interface LoadOptions {
  /**
   * Read only these top-level sections; the others take their defaults, and the environment
   * variables they reference need not be set. `hubsync migrate` needs only `database` and `log`.
   */
  only?: readonly string[];
}

/** Validates a configuration built in code (sandbox mode derives one), returning it frozen. */
export function parseConfigObject(raw: unknown, source = 'derived config'): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.flatMap(describeIssue));
  return deepFreeze(parsed.data);
}

/** Reads the file named by `--config`, then `HUBSYNC_CONFIG`, then the default path. */
export async function loadConfigFile(path: string | undefined, env: Env, options: LoadOptions = {}): Promise<{ config: Config; path: string }> {
  // An empty HUBSYNC_CONFIG (`HUBSYNC_CONFIG=` in an env file) means unset.
  const file = path ?? (env.HUBSYNC_CONFIG || undefined) ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new ConfigError(file, [reason], { cause: error });
  }
  return { config: loadConfig(text, env, file, options), path: file };
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g;

/** Replaces `${VAR}` and `${VAR:-default}` in string values (not in keys, never in the raw YAML text). */
function interpolate(value: unknown, env: Env, path: (string | number)[], problems: string[]): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{[^}]+\}$/.test(value);
    const result = value.replace(REFERENCE, (match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && (found !== '' || fallback === undefined)) return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return match;
    });
    // A whole-value reference to a YAML-typed value ("true", "3000") keeps its type for coercion.
    return whole && (result === 'true' || result === 'false') ? result === 'true' : result;
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, [...path, index], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...path, key], problems)]),
    );
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`);
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
