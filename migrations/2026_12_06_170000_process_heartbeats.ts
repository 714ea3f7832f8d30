import type { Kysely } from 'kysely';

/**
 * hubsync_processes: one row per running hubsync process (its heartbeat), so `hubsync status` can
 * say what is running where and `/readyz` can tell a process whose database writes stall.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('hubsync_processes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('hubsync_processes').ifExists().execute();
}
