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

/** A process's place among the live processes of some roles: its index by id, and how many they are. */
export interface RosterPlace {
  index: number;
  count: number;
}

/**
 * Where process `id` stands among the processes of `roles` seen since `since`, ordered by id: each
 * of them reads the same list, so each finds a different index. A process not listed yet (its
 * first heartbeat not written) counts itself after the others.
 */
export async function rosterPlace(db: Kysely<Database>, id: string, roles: readonly string[], since: Date): Promise<RosterPlace> {
  const rows = await db.selectFrom('hubsync_processes').select('id').where('role', 'in', roles).where('last_seen_at', '>=', since).orderBy('id').execute();
  const index = rows.findIndex((row) => row.id === id);
  return index >= 0 ? { index, count: rows.length } : { index: rows.length, count: rows.length + 1 };
}
