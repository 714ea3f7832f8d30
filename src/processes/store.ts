/**
 * Queries of `hubsync_processes`: each running process's heartbeat.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export interface ProcessRow {
  id: string;
  role: string;
  host: string;
  pid: number;
  version: string;
  startedAt: Date;
}

/** Rows of processes silent this long are deleted (by the beats of the living): they died without a goodbye. */
const FORGET_AFTER_MS = 86_400_000;

/**
 * Records (or refreshes) a process's heartbeat at `now`, and deletes the rows of processes silent
 * for a day: the living keep the table, so `hubsync status` only reads it.
 */
export async function beat(db: Kysely<Database>, process: ProcessRow, now: Date): Promise<void> {
  await db
    .insertInto('hubsync_processes')
    .values({ id: process.id, role: process.role, host: process.host, pid: process.pid, version: process.version, started_at: process.startedAt, last_seen_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ last_seen_at: now }))
    .execute();
  await db.deleteFrom('hubsync_processes').where('last_seen_at', '<', new Date(now.getTime() - FORGET_AFTER_MS)).execute();
}

/** A stopping process says goodbye; one that dies stops beating and ages out. */
export async function removeProcess(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('hubsync_processes').where('id', '=', id).execute();
}

/** Rows seen since `since`, newest start first. Reads only. */
export async function liveProcesses(db: Kysely<Database>, since: Date): Promise<(ProcessRow & { lastSeenAt: Date })[]> {
  const rows = await db.selectFrom('hubsync_processes').selectAll().where('last_seen_at', '>=', since).orderBy('started_at', 'desc').execute();
  return rows.map((r) => ({ id: r.id, role: r.role, host: r.host, pid: r.pid, version: r.version, startedAt: r.started_at, lastSeenAt: r.last_seen_at }));
}
