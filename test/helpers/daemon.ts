import type { Logger } from 'pino';
import { startAll } from '../../src/cli/lifecycle.ts';
import { buildDaemon, type Daemon } from '../../src/cli/run.ts';
import { startSandboxMode, type SandboxMode } from '../../src/cli/sandbox-mode.ts';
import type { Config } from '../../src/config/schema.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

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
