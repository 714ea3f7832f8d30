import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { DatabaseConfig } from '../config/schema.ts';
import { coerceError, DatabaseUnavailableError } from '../errors.ts';
import { pgliteListen, postgresListen, type Listen } from './listen.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { PreparingClient } from './prepared.ts';
import type { Database } from './schema.ts';

export type { Database } from './schema.ts';

export type DatabaseKind = 'postgres' | 'embedded';

export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: DatabaseKind;
  /** Where it is, without credentials (for logs and status). */
  description: string;
  /** LISTEN on a channel (a dedicated connection on Postgres, re-established when it drops). */
  listen: Listen;
  close(): Promise<void>;
}

const INT8_OID = 20;

/**
 * int8 (bigint, count(*)) arrives as text; hubsync's int8 values (portal ids, counters, epoch ms)
 * all fit in a double, so they become numbers. A value past 2^53 would silently lose precision,
 * so it fails loudly instead.
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 value ${text} does not fit in a JavaScript number`);
  return value;
}

/**
 * Opens the configured database: Postgres when a URL is set, the embedded PGlite otherwise. A
 * Postgres that cannot be reached or used (down, wrong password, no such database) is a
 * DatabaseUnavailableError naming the server, never the password.
 */
export async function openDatabase(config: DatabaseConfig, log?: Logger): Promise<DatabaseHandle> {
  if (!config.url) return openEmbedded(config.embeddedDir, config.preparedStatements);
  const handle = openPostgres(config, log);
  try {
    await ping(handle.db);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw new DatabaseUnavailableError(`cannot use the database at ${handle.description}: ${coerceError(err).message}`, { cause: err });
  }
  return handle;
}

/** Host, port and database of a Postgres URL, without credentials; also the socket forms pg accepts. */
export function postgresTarget(raw: string): { host: string; port: string; database: string } {
  const query = new URLSearchParams(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '');
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  const socket = raw.startsWith('socket:');
  const host = query.get('host') ?? (socket ? (url?.pathname ?? '') : decodeURIComponent(url?.hostname ?? ''));
  const database = (socket ? query.get('db') : (url?.pathname ?? /^[^:]+:\/\/[^/]*\/([^?]*)/.exec(raw)?.[1])) ?? '';
  return { host, port: url && !socket ? url.port : (query.get('port') ?? ''), database: database.replace(/^\//, '') };
}

function openPostgres(config: DatabaseConfig, log?: Logger): DatabaseHandle {
  const target = postgresTarget(config.url);
  const connection: pg.ClientConfig = {
    connectionString: config.url,
    ssl: sslOption(config.ssl, target.host),
    connectionTimeoutMillis: 5_000,
    application_name: 'hubsync',
  };
  const pool = new pg.Pool({
    ...connection,
    ...(config.preparedStatements ? { Client: PreparingClient } : {}),
    max: config.poolSize,
    statement_timeout: config.statementTimeoutMs,
    idleTimeoutMillis: 30_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => log?.warn({ err }, 'idle database connection failed'));
  // A checked-out client whose connection drops (failover, terminated backend) emits 'error'
  // too; unheard, that would crash the process. The query in flight fails and is retried.
  pool.on('connect', (client) => client.on('error', (err) => log?.warn({ err }, 'database connection lost')));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    description: `postgres://${target.host.startsWith('/') ? `[${target.host}]` : target.host}:${target.port || 5432}/${target.database}`,
    listen: postgresListen(connection, log),
    close: () => db.destroy(),
  };
}

async function openEmbedded(dataDir: string, preparedStatements: boolean): Promise<DatabaseHandle> {
  const pglite = await PGlite.create(dataDir === 'memory://' ? undefined : dataDir, {
    parsers: { [INT8_OID]: parseInt8 },
  });
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite, { preparedStatements }) });
  return { db, kind: 'embedded', description: `embedded:${dataDir}`, listen: pgliteListen(pglite), close: () => db.destroy() };
}

function sslOption(mode: DatabaseConfig['ssl'], host: string): pg.PoolConfig['ssl'] {
  // No host, or a directory: a Unix socket on this machine.
  const local = host === '' || host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.') || host.startsWith('/');
  if (mode === 'disable' || (mode === 'auto' && local)) return false;
  if (mode === 'verify') return { rejectUnauthorized: true };
  return { rejectUnauthorized: false };
}

/** A cheap round trip, for readiness checks. */
export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
