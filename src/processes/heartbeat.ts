/**
 * Each running process's heartbeat: a row in `hubsync_processes` refreshed every few seconds, so
 * `hubsync status` can say what runs where (and which process holds a job's lease: the same id),
 * and `/readyz` can tell when this process's own database writes have stalled.
 */
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { failureBackoff, loopLifecycle, sleep, type Service } from '../loop.ts';
import { beat, removeProcess } from './store.ts';

const HEARTBEAT_MS = 10_000;

/** A process whose last beat is older than this is taken for gone. */
export const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

export interface HeartbeatService extends Service {
  /** Ready while the last beat (or the start) is recent: the database takes this process's writes. */
  readiness(): { ok: boolean; reasons: string[] };
}

export interface HeartbeatDeps {
  db: Kysely<Database>;
  log: Logger;
  /** The process's id: also the owner its job leases carry. */
  id: string;
  role: string;
  version: string;
  intervalMs?: number;
  now?: () => number;
}

export function createHeartbeatService(deps: HeartbeatDeps): HeartbeatService {
  const log = deps.log.child({ module: 'heartbeat' });
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? HEARTBEAT_MS;
  const startedAt = new Date(now());
  const row = { id: deps.id, role: deps.role, host: os.hostname(), pid: process.pid, version: deps.version, startedAt };
  let lastBeat = startedAt.getTime();
  const failures = failureBackoff({ log, what: 'heartbeat', level: 'warn', baseMs: intervalMs, maxMs: intervalMs * 3, now });
  const lifecycle = loopLifecycle(async (control) => {
    while (!control.stopping) {
      let wait = intervalMs;
      try {
        await beat(deps.db, row, new Date(now()));
        lastBeat = now();
        failures.succeeded();
      } catch (err) {
        wait = failures.failed(err);
      }
      await sleep(wait, control.signal);
    }
  });
  return {
    name: 'heartbeat',
    start: lifecycle.start,
    async stop() {
      await lifecycle.stop();
      await removeProcess(deps.db, deps.id).catch((err: unknown) => log.warn({ err }, 'could not remove this process from hubsync_processes'));
    },
    readiness() {
      const age = now() - lastBeat;
      const ok = age <= 3 * intervalMs;
      return { ok, reasons: ok ? [] : [`no heartbeat written for ${Math.round(age / 1000)} s: the database is not taking this process's writes`] };
    },
  };
}
