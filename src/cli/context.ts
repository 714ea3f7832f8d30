import pino, { type Logger } from 'pino';
import { loadConfigFile, type Env, type LoadOptions } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { openDatabase, type DatabaseHandle, type OpenOptions } from '../db/index.ts';
import { assertSchemaCurrent, migrateToLatest } from '../db/migrate.ts';
import { configSecrets, createLogger } from '../log.ts';

export interface Context {
  config: Config;
  configPath: string;
  log: Logger;
  env: Env;
}

/**
 * Loads the configuration and builds the logger: the first thing every command does. Log lines go
 * to stdout, or to stderr for a command whose stdout is its output (`logTo`).
 */
export async function loadContext(configPath: string | undefined, env: Env, options: LoadOptions = {}, output: { logTo?: 'stdout' | 'stderr' } = {}): Promise<Context> {
  const { config, path } = await loadConfigFile(configPath, env, options);
  const destination = output.logTo === 'stderr' ? pino.destination({ fd: 2, sync: true }) : undefined;
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, secrets: configSecrets(config), ...(destination ? { destination } : {}) });
  return { config, configPath: path, log, env };
}

/**
 * Opens the database for a long-running command. Postgres must already be migrated (the release
 * phase does it); the embedded database belongs to this one process, so it is migrated here.
 */
export async function openReadyDatabase(ctx: Context, options: OpenOptions = {}): Promise<DatabaseHandle> {
  const handle = await openDatabase(ctx.config.database, ctx.log, options);
  try {
    if (handle.kind === 'embedded') await migrateToLatest(handle.db);
    else await assertSchemaCurrent(handle.db);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/**
 * Opens the database, runs `work` with it and closes it, however `work` ends. `migrated`: the
 * schema must be current (see `openReadyDatabase`); otherwise the database is opened as it is.
 */
export async function withDatabase<T>(ctx: Context, options: { migrated: boolean }, work: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = options.migrated ? await openReadyDatabase(ctx) : await openDatabase(ctx.config.database, ctx.log);
  try {
    return await work(handle);
  } finally {
    await handle.close();
  }
}
