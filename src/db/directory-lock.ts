/**
 * One owner for an embedded database directory. PGlite opened twice on one directory loses
 * writes silently, so whoever opens it first writes `hubsync.lock` there (created exclusively,
 * holding its pid, role and when its process started) and removes it when done; a lock whose
 * process is gone is stale and taken over, which the caller is told so it can say so. The
 * daemon holds it for its whole life and serves the database on a socket; a short command holds
 * it only while it runs.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_NAME = 'hubsync.lock';

export type LockRole = 'daemon' | 'command';

export interface LockHolder {
  pid: number;
  role: LockRole;
  /** When the holder's process started (Linux: /proc/<pid>/stat), so a later process given the same pid is not taken for it. */
  started?: string;
}

export type LockAttempt = { ok: true; release(): Promise<void>; tookOver?: LockHolder } | { ok: false; holder: LockHolder };

/** Takes the directory's lock, or says who holds it. Creates the directory (owner-only) if needed. */
export async function lockDirectory(dir: string, role: LockRole): Promise<LockAttempt> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK_NAME);
  let tookOver: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const started = processStartTime(process.pid);
      await writeFile(file, JSON.stringify({ pid: process.pid, role, ...(started ? { started } : {}) }), { flag: 'wx', mode: 0o600 });
      return { ok: true, release: () => rm(file, { force: true }), ...(tookOver ? { tookOver } : {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const found = await readHolder(file);
    if (found && alive(found)) return { ok: false, holder: found };
    // Stale (its process is gone) or unreadable: take it over.
    tookOver = found ?? { pid: 0, role: 'command' };
    await rm(file, { force: true });
  }
  const holder = await lockHolder(dir);
  return holder ? { ok: false, holder } : { ok: false, holder: { pid: 0, role: 'command' } };
}

/** The live process holding the directory's lock, if any. */
async function lockHolder(dir: string): Promise<LockHolder | undefined> {
  const holder = await readHolder(path.join(dir, LOCK_NAME));
  return holder && alive(holder) ? holder : undefined;
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const holder = JSON.parse(await readFile(file, 'utf8')) as LockHolder;
    return Number.isSafeInteger(holder.pid) ? holder : undefined;
  } catch {
    return undefined;
  }
}

function alive(holder: LockHolder): boolean {
  if (holder.pid <= 0) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A pid is reused (a container's daemon is often pid 1 every time): the same pid started at another time is another process.
  const started = holder.started === undefined ? undefined : processStartTime(holder.pid);
  return started === undefined || started === holder.started;
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined where there is no /proc. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
