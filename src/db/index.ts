import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { DatabaseConfig } from '../config/schema.ts';
import { coerceError, DatabaseInUseError, DatabaseUnavailableError } from '../errors.ts';
import { lockDirectory } from './directory-lock.ts';
import { MAX_SOCKET_PATH, serveSession, SOCKET_NAME, type SessionServer } from './embedded-socket.ts';
import { pgliteListen, postgresListen, type Listen } from './listen.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { PreparingClient } from './prepared.ts';
import { SessionLock } from './session-lock.ts';
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

export interface OpenOptions {
  /**
   * The daemon: own the embedded database's directory for the whole run (a second daemon is
   * refused) and serve it on a socket there for the other commands and `psql`. Without it, a
   * command goes through a running daemon's socket, or opens the directory itself when none runs.
   */
  serve?: boolean;
  /**
   * An in-memory embedded database only: start from this dump of an initialised data directory
   * (PGlite's `dumpDataDir`) instead of running initdb, about a second instead of four. The tests
   * open each file's database from one template.
   */
  embeddedTemplate?: Blob;
}

/**
 * Opens the configured database: Postgres when a URL is set, the embedded PGlite otherwise. A
 * Postgres that cannot be reached or used (down, wrong password, no such database) is a
 * DatabaseUnavailableError naming the server, never the password.
 */
export async function openDatabase(config: DatabaseConfig, log?: Logger, options: OpenOptions = {}): Promise<DatabaseHandle> {
  if (!config.url) {
    if (config.embeddedDir === 'memory://') return openEmbedded(config, undefined, options.embeddedTemplate);
    return openSharedEmbedded(config, log, options.serve === true);
  }
  return reachable(openPostgres(config, log));
}

async function reachable(handle: DatabaseHandle): Promise<DatabaseHandle> {
  try {
    await ping(handle.db);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw new DatabaseUnavailableError(`cannot use the database at ${handle.description}: ${coerceError(err).message}`, { cause: err });
  }
  return handle;
}

/** How long a command waits for another short command holding the directory (a status, a backfill). */
const COMMAND_LOCK_WAIT_MS = 10_000;

/**
 * The embedded database in a directory, with one owner (see directory-lock.ts): the daemon, which
 * serves it on `<dir>/.s.PGSQL.5432`; or, when no daemon runs, the command that opened it.
 */
async function openSharedEmbedded(config: DatabaseConfig, log: Logger | undefined, serve: boolean): Promise<DatabaseHandle> {
  const dir = path.resolve(config.embeddedDir);
  const takeLock = () =>
    lockDirectory(dir, serve ? 'daemon' : 'command').catch((err: unknown) => {
      throw new DatabaseUnavailableError(`cannot use the embedded database directory ${config.embeddedDir}: ${coerceError(err).message}`, { cause: err });
    });
  let attempt = await takeLock();
  for (let waited = 0; !attempt.ok && attempt.holder.role === 'command' && waited < COMMAND_LOCK_WAIT_MS; waited += 200) {
    await delay(200);
    attempt = await takeLock();
  }
  if (!attempt.ok) {
    const { holder } = attempt;
    if (!serve && holder.role === 'daemon') return throughDaemon(config, dir, holder.pid, log);
    throw new DatabaseInUseError(
      `the embedded database in ${config.embeddedDir} is in use by ${holder.role === 'daemon' ? 'a running hubsync daemon' : 'another hubsync command'} (pid ${holder.pid}): stop it first, or give this one another database.embeddedDir`,
    );
  }
  const { release, tookOver } = attempt;
  if (tookOver) {
    // A process that died without cleaning up (killed, crashed, the machine lost power): say what was left and taken over.
    const leftSocket = existsSync(path.join(dir, SOCKET_NAME));
    log?.warn(
      { dir: config.embeddedDir, pid: tookOver.pid, role: tookOver.role },
      `took over the embedded database directory from hubsync pid ${tookOver.pid}, which is no longer running: the lock file${leftSocket ? ' and socket' : ''} it left replaced`,
    );
  }
  let handle: DatabaseHandle & { pglite: PGlite; lock: SessionLock };
  try {
    handle = await openEmbedded(config, dir);
  } catch (err) {
    await release();
    throw new DatabaseUnavailableError(`cannot open the embedded database in ${config.embeddedDir}: ${coerceError(err).message}`, { cause: err });
  }
  let server: SessionServer | undefined;
  const socket = path.join(dir, SOCKET_NAME);
  if (serve && socket.length <= MAX_SOCKET_PATH) server = await serveSession(handle.pglite, handle.lock, socket, log ?? silent, { onFatal: stopProcess });
  else if (serve) log?.warn({ socket }, 'the embedded database directory path is too long for a Unix socket: other commands cannot reach it while the daemon runs');
  return {
    ...handle,
    ...(server ? { description: `${handle.description} (socket ${socket})` } : {}),
    close: async () => {
      await server?.close();
      await handle.close();
      await release();
    },
  };
}

/** A command while the daemon runs: the daemon's database, through its socket (one connection). */
async function throughDaemon(config: DatabaseConfig, dir: string, pid: number, log: Logger | undefined): Promise<DatabaseHandle> {
  const handle = openPostgres(
    // Named prepared statements belong to the daemon's session; a session-wide statement_timeout would be imposed on it too.
    { ...config, url: `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}`, poolSize: 1, statementTimeoutMs: 0, preparedStatements: false, ssl: 'disable' },
    log,
  );
  return reachable({ ...handle, kind: 'embedded', description: `embedded:${config.embeddedDir} (through the running daemon, pid ${pid})` });
}

const silent = { warn: () => undefined, debug: () => undefined, error: () => undefined };

/**
 * PGlite's program exited under a socket client (the socket refuses every input known to do
 * that; this is the last resort). The daemon's next statement would spin for ever with the
 * event loop blocked, deaf to signals and health checks, so the process ends now, leaving its
 * lock for the restart to take over; the data is what was last committed.
 */
function stopProcess(): void {
  process.exit(1);
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
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err }, 'database connection lost'));
    // JIT compilation pays off for long analytic queries; hubsync's are short, or housekeeping on a
    // timer whose plans cost enough to trigger it: the status figures of a 50,000-event backlog took
    // 273 ms with it, 50 ms without. Queued before the pool hands the client out; a server without
    // the setting (before Postgres 11) just keeps going.
    client.query('set jit = off').catch(() => undefined);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    description: `postgres://${target.host.startsWith('/') ? `[${target.host}]` : target.host}:${target.port || 5432}/${target.database}`,
    listen: postgresListen(connection, log),
    close: () => db.destroy(),
  };
}

/** PGlite in `dir`, or in memory when there is none (from `template` when given). */
async function openEmbedded(config: DatabaseConfig, dir: string | undefined, template?: Blob): Promise<DatabaseHandle & { pglite: PGlite; lock: SessionLock }> {
  const pglite = await PGlite.create(dir, { parsers: { [INT8_OID]: parseInt8 }, ...(template ? { loadDataDir: template } : {}) });
  const lock = new SessionLock();
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite, { preparedStatements: config.preparedStatements, lock }) });
  return { db, pglite, lock, kind: 'embedded', description: `embedded:${config.embeddedDir}`, listen: pgliteListen(pglite), close: () => db.destroy() };
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
