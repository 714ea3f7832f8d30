import { parse, protocol, type PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { statementName } from './prepared.ts';
import { SessionLock } from './session-lock.ts';

/**
 * Kysely dialect for PGlite (embedded Postgres in WebAssembly).
 *
 * PGlite is one session, so the driver hands out that one connection to a single holder at a
 * time (a SessionLock, which the local socket's clients share): a transaction keeps it until
 * commit or rollback, and other queries queue behind it.
 * Code must therefore never use the outer `db` inside its own transaction (it would wait for
 * itself); it uses the transaction object, as it must on a pool anyway.
 *
 * Statements with the `prepared` mark are prepared once and then only bound and executed (one
 * exchange with the database instead of five, no parsing or planning), as on Postgres.
 */
export class PGliteDialect implements Dialect {
  readonly #pg: PGlite;
  readonly #prepare: boolean;
  readonly #lock: SessionLock;

  /** `lock`: shared with the local socket's clients, when the session is served to other processes. */
  constructor(pg: PGlite, options: { preparedStatements?: boolean; lock?: SessionLock } = {}) {
    this.#pg = pg;
    this.#prepare = options.preparedStatements ?? true;
    this.#lock = options.lock ?? new SessionLock();
  }

  createAdapter() {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#pg, this.#prepare, this.#lock);
  }

  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection;
  readonly #lock: SessionLock;
  #release: (() => void) | undefined;

  constructor(pg: PGlite, prepare: boolean, lock: SessionLock) {
    this.#connection = new PGliteConnection(pg, prepare);
    this.#lock = lock;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    this.#release = await this.#lock.acquire();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) statement += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint "${name}"`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint "${name}"`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint "${name}"`));
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    await this.#connection.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pg: PGlite;
  readonly #prepare: boolean;
  /** Parameter types of the statements prepared in this session, by name. */
  readonly #statements = new Map<string, number[]>();

  constructor(pg: PGlite, prepare: boolean) {
    this.#pg = pg;
    this.#prepare = prepare;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const name = this.#prepare ? statementName(compiledQuery.sql) : undefined;
    const result =
      name === undefined
        ? await this.#pg.query<R>(compiledQuery.sql, [...compiledQuery.parameters])
        : await this.#executePrepared<R>(name, compiledQuery.sql, compiledQuery.parameters);
    return {
      rows: result.rows,
      numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
    };
  }

  /**
   * Runs a named prepared statement in one protocol exchange, preparing it first in this session.
   * Parameters and results go through PGlite's own serializers and parsers, as `query` does; a
   * statement that commits outside a transaction is synced to the filesystem, as `query` does.
   */
  async #executePrepared<R>(name: string, text: string, parameters: readonly unknown[]): Promise<{ rows: R[]; affectedRows?: number }> {
    const { serialize } = protocol;
    let types = this.#statements.get(name);
    if (types === undefined) {
      const described = await this.#pg.execProtocol(concat([serialize.parse({ name, text, types: [] }), serialize.describe({ type: 'S', name }), serialize.sync()]), {
        syncToFs: false,
      });
      types = parse.parseDescribeStatementResults(described.messages);
      this.#statements.set(name, types);
    }
    const serializers = this.#pg.serializers;
    const values = parameters.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = serializers[types[i]!];
      return serializer ? serializer(value) : String(value);
    });
    const { messages } = await this.#pg.execProtocol(
      concat([serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
      { syncToFs: false },
    );
    const idle = messages.some((m) => m.name === 'readyForQuery' && (m as InstanceType<typeof protocol.messages.ReadyForQueryMessage>).status === 'I');
    if (idle) await this.#pg.syncToFs();
    const [result] = parse.parseResults(messages, this.#pg.parsers);
    return { rows: (result?.rows ?? []) as R[], ...(result?.affectedRows !== undefined ? { affectedRows: result.affectedRows } : {}) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded database');
  }

  async close(): Promise<void> {
    if (!this.#pg.closed) await this.#pg.close();
  }
}

function concat(messages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.reduce((length, m) => length + m.byteLength, 0));
  let at = 0;
  for (const m of messages) {
    out.set(m, at);
    at += m.byteLength;
  }
  return out;
}
