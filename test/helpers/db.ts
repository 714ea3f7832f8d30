import { randomBytes } from 'node:crypto';
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { templateDump } from '../global-setup.ts';
import type { DatabaseConfig } from '../../src/config/schema.ts';

export interface TestDb extends DatabaseHandle {
  /** The connection URL of this test's own database (Postgres only). */
  url: string | undefined;
  config: DatabaseConfig;
}

/** The server tests run against, when DATABASE_URL is set; otherwise everything runs on PGlite. */
export const serverUrl = process.env.DATABASE_URL || undefined;

export function testDatabaseConfig(url = ''): DatabaseConfig {
  return { url, embeddedDir: 'memory://', poolSize: 10, statementTimeoutMs: 30_000, ssl: 'disable', preparedStatements: true };
}

/**
 * A fresh database for one test file: PGlite in memory by default; with DATABASE_URL a new
 * database on that server, migrated by the real migrator and dropped by `close()`.
 */
export async function createTestDb(options: { migrate?: boolean } = {}): Promise<TestDb> {
  const url = serverUrl ? await createServerDatabase(serverUrl) : undefined;
  const config = testDatabaseConfig(url);
  const template = url ? undefined : embeddedTemplate();
  const handle = await openDatabase(config, undefined, template ? { embeddedTemplate: await template } : {});
  if (options.migrate !== false) await migrateToLatest(handle.db);
  return {
    ...handle,
    url,
    config,
    close: async () => {
      await handle.close();
      if (url) await dropServerDatabase(serverUrl!, url);
    },
  };
}

/** The run's initialised embedded data directory (made by test/global-setup.ts). */
const templateDir = process.env.HUBSYNC_TEST_PGLITE_TEMPLATE || undefined;
let templateBlob: Promise<Blob> | undefined;

/** The template as a dump to start an in-memory database from, read once per worker. */
function embeddedTemplate(): Promise<Blob> | undefined {
  if (!templateDir) return undefined;
  templateBlob ??= readFile(templateDump(templateDir)).then((bytes) => new Blob([bytes]));
  return templateBlob;
}

/**
 * `dir` as an embedded database directory that already holds an initialised database (a copy of
 * the run's template), so the process that opens it skips initdb; `dir` unchanged when there is no
 * template (or `dir` already holds a database). For tests about something else than a first start
 * in an empty directory.
 */
export function seededEmbeddedDir(dir: string): string {
  if (templateDir && !existsSync(path.join(dir, 'PG_VERSION'))) cpSync(templateDir, dir, { recursive: true });
  return dir;
}

/** Prefix of the scratch databases tests create on a server (HUBSYNC_TEST_DB_PREFIX), so parallel runs can be told apart. */
const DB_PREFIX = process.env.HUBSYNC_TEST_DB_PREFIX || 'hubsync_test';
if (!/^[a-z_][a-z0-9_]{0,40}$/.test(DB_PREFIX)) throw new Error(`HUBSYNC_TEST_DB_PREFIX must be a lower-case identifier, not ${JSON.stringify(DB_PREFIX)}`);

export async function createServerDatabase(adminUrl: string): Promise<string> {
  const name = `${DB_PREFIX}_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropServerDatabase(adminUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  await withAdmin(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
}

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
