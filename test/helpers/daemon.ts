import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { startAll } from '../../src/cli/lifecycle.ts';
import { buildDaemon, type Daemon } from '../../src/cli/run.ts';
import { startSandboxMode, type SandboxMode } from '../../src/cli/sandbox-mode.ts';
import type { Config } from '../../src/config/schema.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { parseConfigObject } from '../../src/config/load.ts';
import { createServerDatabase, dropServerDatabase, seededEmbeddedDir, serverUrl } from './db.ts';

export interface SandboxDaemon {
  handle: DatabaseHandle;
  sandbox: SandboxMode;
  daemon: Daemon;
  /** Stops the daemon's services, then the sandbox and the database. */
  close(): Promise<void>;
}

/** What `hubsync run` does with `sandbox: true`, in this process: the stand-in plus every role, started. */
export async function startSandboxDaemon(config: Config, log: Logger): Promise<SandboxDaemon> {
  const handle = await openDatabase(config.database);
  await migrateToLatest(handle.db);
  const sandbox = await startSandboxMode(config, log);
  const daemon = await buildDaemon(sandbox.config, handle, log, 'all');
  const stop = await startAll(daemon.services, log);
  return {
    handle,
    sandbox,
    daemon,
    async close() {
      await stop();
      daemon.accounts?.close();
      await sandbox.close();
      await handle.close();
    },
  };
}

/**
 * `startSandboxDaemon` with `sandbox: true` and `raw` as the rest of its configuration, on a scratch
 * database: a new one on the test server when DATABASE_URL is set, else an embedded one in a new
 * temporary directory. `close` also drops that database or removes that directory.
 */
export async function startScratchSandboxDaemon(raw: Record<string, unknown>, log: Logger): Promise<SandboxDaemon> {
  const databaseUrl = serverUrl ? await createServerDatabase(serverUrl) : undefined;
  const dir = databaseUrl ? undefined : mkdtempSync(path.join(tmpdir(), 'hubsync-daemon-'));
  const config = parseConfigObject({ ...raw, sandbox: true, database: { url: databaseUrl ?? '', ...(dir ? { embeddedDir: seededEmbeddedDir(path.join(dir, 'data')) } : {}) } });
  const running = await startSandboxDaemon(config, log);
  return {
    ...running,
    async close() {
      await running.close();
      if (databaseUrl) await dropServerDatabase(serverUrl!, databaseUrl);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
