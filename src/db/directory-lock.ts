/**
 * One owner for an embedded database directory. PGlite opened twice on one directory loses
 * writes silently, so whoever opens it first writes `hubsync.lock` there (created exclusively,
 * holding its pid and role) and removes it when done; a lock whose process is gone is stale and
 * taken over. The daemon holds it for its whole life and serves the database on a socket; a
 * short command holds it only while it runs.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_NAME = 'hubsync.lock';

export type LockRole = 'daemon' | 'command';

export interface LockHolder {
  pid: number;
  role: LockRole;
}

export type LockAttempt = { ok: true; release(): Promise<void> } | { ok: false; holder: LockHolder };

/** Takes the directory's lock, or says who holds it. Creates the directory (owner-only) if needed. */
export async function lockDirectory(dir: string, role: LockRole): Promise<LockAttempt> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, JSON.stringify({ pid: process.pid, role }), { flag: 'wx', mode: 0o600 });
      return { ok: true, release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await lockHolder(dir);
    if (holder) return { ok: false, holder };
    // Stale (its process is gone) or unreadable: take it over.
    await rm(file, { force: true });
  }
  const holder = await lockHolder(dir);
  return holder ? { ok: false, holder } : { ok: false, holder: { pid: 0, role: 'command' } };
}

/** The live process holding the directory's lock, if any. */
export async function lockHolder(dir: string): Promise<LockHolder | undefined> {
  let holder: LockHolder;
  try {
    holder = JSON.parse(await readFile(path.join(dir, LOCK_NAME), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
  return Number.isSafeInteger(holder.pid) && holder.pid > 0 && alive(holder.pid) ? holder : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
