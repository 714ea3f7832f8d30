import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { FileMigrationProvider, Migrator, type MigrationResult } from 'kysely/migration';
import { HubsyncError, SchemaBehindError } from '../errors.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Serialises concurrent `hubsync migrate` runs (release phases, several dynos starting at once). */
const MIGRATION_LOCK_KEY = 7_446_183_921;

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    // Work developed side by side lands in any order, each with a timestamp from its own range: a
    // database that already ran a later-named migration still runs one named earlier.
    allowUnorderedMigrations: true,
  });
}

export class MigrationError extends HubsyncError {
  override readonly code = 'MIGRATION_FAILED';
}

/**
 * Brings the schema to the newest migration. Idempotent; safe when several processes run it at
 * once: a session advisory lock makes them take turns, and the later ones find nothing to do.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResult[]> {
  return db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(connection);
    try {
      const { error, results = [] } = await migrator(connection).migrateToLatest();
      if (error) {
        const failed = results.find((result) => result.status === 'Error');
        throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String((error as Error).message ?? error)}`, {
          cause: error,
        });
      }
      return results;
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(connection);
    }
  });
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const migrations = await migrator(db).getMigrations();
  return migrations.filter((migration) => !migration.executedAt).map((migration) => migration.name);
}

/** Throws SchemaBehindError when the database needs `hubsync migrate`. */
export async function assertSchemaCurrent(db: Kysely<any>): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    throw new SchemaBehindError(
      `the database schema is behind (${pending.length} pending migration${pending.length === 1 ? '' : 's'}, first ${pending[0]}): run \`hubsync migrate\``,
    );
  }
}
