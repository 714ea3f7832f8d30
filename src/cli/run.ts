import type { Context } from './context.ts';
import { openReadyDatabase } from './context.ts';
import { handleSignals, startAll, type Service } from './lifecycle.ts';
import type { DatabaseHandle } from '../db/index.ts';
import { UsageError } from '../errors.ts';

export const ROLES = ['all', 'web', 'worker'] as const;
export type Role = (typeof ROLES)[number];

/** The services a role runs. Each module contributes its own; they start in this order. */
export function buildServices(_ctx: Context, _handle: DatabaseHandle, _role: Role): Service[] {
  return [];
}

/** `hubsync run`: start the role's services, then wait for SIGTERM/SIGINT and drain. */
export async function runDaemon(ctx: Context, role: Role): Promise<number> {
  const { log, config } = ctx;
  if (role !== 'all' && !config.database.url) {
    throw new UsageError(`--role ${role} needs a shared Postgres (database.url); the embedded database runs only with --role all`);
  }
  const handle = await openReadyDatabase(ctx);
  let stopServices: () => Promise<void>;
  try {
    stopServices = await startAll(buildServices(ctx, handle, role), log);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return new Promise<number>((resolve) => {
    handleSignals(
      async () => {
        await stopServices();
        await handle.close();
      },
      { log, exit: (code) => resolve(code) },
    );
    log.info({ role, database: handle.description, sandbox: config.sandbox }, 'hubsync running');
  });
}
