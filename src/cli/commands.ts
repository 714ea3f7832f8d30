import type { ParseArgsConfig } from 'node:util';
import type { Env } from '../config/load.ts';
import { maskConfig } from '../config/mask.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { openDatabase } from '../db/index.ts';
import { NotBuiltError, UsageError } from '../errors.ts';
import { loadContext } from './context.ts';
import { runDaemon, ROLES, type Role } from './run.ts';

export interface Invocation {
  args: string[];
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  env: Env;
}

export interface Command {
  /** One or two words: `run`, `config check`. */
  name: string;
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  action(invocation: Invocation): Promise<number>;
}

const configFlag = (flags: Invocation['flags']) => (typeof flags.config === 'string' ? flags.config : undefined);

function notBuilt(what: string): () => Promise<number> {
  return async () => {
    throw new NotBuiltError(`${what} is not built yet`);
  };
}

export const COMMANDS: Command[] = [
  {
    name: 'run',
    usage: 'run [--role web|worker|all]',
    summary: 'run the daemon (default role: all, the only one with the embedded database)',
    options: { role: { type: 'string' } },
    async action({ flags, env }) {
      const role = (flags.role ?? 'all') as Role;
      if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const ctx = await loadContext(configFlag(flags), env);
      return runDaemon(ctx, role);
    },
  },
  {
    name: 'migrate',
    usage: 'migrate',
    summary: 'bring the database schema up to date (idempotent; the release phase runs it)',
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      const handle = await openDatabase(ctx.config.database, ctx.log);
      try {
        const results = await migrateToLatest(handle.db);
        const applied = results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
        ctx.log.info({ applied, database: handle.description }, applied.length ? 'migrations applied' : 'schema already up to date');
      } finally {
        await handle.close();
      }
      return 0;
    },
  },
  {
    name: 'config check',
    usage: 'config check',
    summary: 'validate the configuration and print it resolved, secrets masked',
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      process.stdout.write(`${JSON.stringify(maskConfig(ctx.config), null, 2)}\n`);
      process.stderr.write(`configuration ${ctx.configPath} is valid\n`);
      return 0;
    },
  },
  {
    name: 'status',
    usage: 'status [--json]',
    summary: 'sync state: cursors, runs, webhook coverage and lag, outbox',
    options: { json: { type: 'boolean' } },
    action: notBuilt('`hubsync status`'),
  },
  {
    name: 'sandbox',
    usage: 'sandbox [--port N] [--seed N] [--time-scale X]',
    summary: 'run the HubSpot/Paragon stand-in standalone and print its URLs',
    options: { port: { type: 'string' }, seed: { type: 'string' }, 'time-scale': { type: 'string' } },
    action: notBuilt('`hubsync sandbox`'),
  },
  {
    name: 'demo',
    usage: 'demo',
    summary: 'sandbox + embedded database + daemon in one process, with a live view and a convergence check',
    action: notBuilt('`hubsync demo`'),
  },
  {
    name: 'backfill',
    usage: 'backfill <job>',
    summary: "re-read a job's objects from scratch without stopping the daemon",
    action: notBuilt('`hubsync backfill`'),
  },
  {
    name: 'outbox retry',
    usage: 'outbox retry [--dead]',
    summary: 'redeliver failed App Events now (--dead: also the dead ones)',
    options: { dead: { type: 'boolean' } },
    action: notBuilt('`hubsync outbox retry`'),
  },
  {
    name: 'triggers sync',
    usage: 'triggers sync',
    summary: 'reconcile Paragon trigger subscriptions with the configuration',
    action: notBuilt('`hubsync triggers sync`'),
  },
];
