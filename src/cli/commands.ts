import type { ParseArgsConfig } from 'node:util';
import type { Env } from '../config/load.ts';
import { maskConfig } from '../config/mask.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { ConfigError, UsageError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { retryOutbox } from '../outbox/api.ts';
import { syncTriggers, triggerExamples } from '../paragon/triggers.ts';
import { startBackfill } from '../polling/index.ts';
import { loadContext, withDatabase } from './context.ts';
import { journalApi, journalTokens } from '../journal/service.ts';
import { syncSubscriptions } from '../journal/sync.ts';
import { handleSignals } from './lifecycle.ts';
import { withJobsAsRun } from './jobs.ts';
import { collectStatus, formatStatus } from './status.ts';
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

function numberFlag(flags: Invocation['flags'], name: string, fallback: number): number {
  const value = flags[name];
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(parsed)) throw new UsageError(`--${name} takes a number`);
  return parsed;
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
      // Only the database is needed: a release phase need not carry HubSpot's or Paragon's secrets.
      const ctx = await loadContext(configFlag(flags), env, { only: ['database', 'log'] });
      return withDatabase(ctx, { migrated: false }, async (handle) => {
        const results = await migrateToLatest(handle.db);
        const applied = results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
        ctx.log.info({ applied, database: handle.description }, applied.length ? 'migrations applied' : 'schema already up to date');
        return 0;
      });
    },
  },
  {
    name: 'config check',
    usage: 'config check [--online]',
    summary: 'validate the configuration and print it resolved, secrets masked (--online: also ask HubSpot about each job\'s object type)',
    options: { online: { type: 'boolean' } },
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      if (flags.online && !ctx.config.sandbox) {
        const { onlineProblems } = await import('./online-check.ts');
        const problems = await onlineProblems(ctx.config, ctx.log);
        if (problems.length > 0) throw new ConfigError(ctx.configPath, problems);
      }
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
    async action({ flags, env }) {
      // The report is stdout (`--json` is a contract for scripts): log lines go to stderr.
      const ctx = await loadContext(configFlag(flags), env, {}, { logTo: 'stderr' });
      return withDatabase(ctx, { migrated: true }, async ({ db }) => {
        // Sandbox mode sharing a running stand-in: ask it, never the HubSpot or Paragon the file names.
        const config = ctx.config.sandbox && ctx.config.sandboxOptions.url ? (await import('./sandbox-mode.ts')).useRunningSandbox(ctx.config, ctx.log).config : ctx.config;
        // A stand-in inside the daemon cannot be asked from this process (the file's hubspot.baseUrl
        // is the real one, which sandbox mode must never call).
        const unreachable = config.sandbox && !config.sandboxOptions.url ? 'the sandbox stand-in runs inside the daemon; set sandboxOptions.url to a running `hubsync sandbox` to read them' : undefined;
        const status = await collectStatus(db, await withJobsAsRun(config, db, ctx.log, { strict: false, source: ctx.configPath }), ctx.log, new Date(), unreachable);
        process.stdout.write(`${flags.json ? JSON.stringify(status, null, 2) : formatStatus(status)}\n`);
        return 0;
      });
    },
  },
  {
    name: 'sandbox',
    usage: 'sandbox [--port N] [--seed N] [--time-scale X] [--webhook-url URL]',
    summary: 'run the HubSpot/Paragon stand-in standalone and print its URLs',
    options: { port: { type: 'string' }, seed: { type: 'string' }, 'time-scale': { type: 'string' }, 'webhook-url': { type: 'string' } },
    async action({ flags }) {
      const { runSandboxCommand } = await import('../sandbox/cli.ts');
      const log = createLogger({ level: 'warn' });
      const sandbox = await runSandboxCommand({
        port: numberFlag(flags, 'port', 0),
        seed: numberFlag(flags, 'seed', 1),
        timeScale: numberFlag(flags, 'time-scale', 1),
        log,
        ...(typeof flags['webhook-url'] === 'string' ? { webhookUrl: flags['webhook-url'] } : {}),
      });
      return new Promise((resolve) => {
        handleSignals(() => sandbox.close(), { log, exit: resolve });
      });
    },
  },
  {
    name: 'demo',
    usage: 'demo [--duration S] [--drop-rate R] [--duplicate-rate R] [--data-dir DIR]',
    summary: 'sandbox + embedded database + daemon in one process, with a live view and a convergence check',
    options: { duration: { type: 'string' }, 'drop-rate': { type: 'string' }, 'duplicate-rate': { type: 'string' }, 'data-dir': { type: 'string' } },
    async action({ flags, env }) {
      if (env.NODE_ENV === 'production') throw new UsageError('the demo runs the built-in stand-in, which is refused when NODE_ENV=production');
      const ctx = await loadContext(configFlag(flags), env);
      const { runDemo } = await import('./demo.ts');
      return runDemo(ctx, {
        durationSeconds: numberFlag(flags, 'duration', 60),
        dropRate: numberFlag(flags, 'drop-rate', 0.1),
        duplicateRate: numberFlag(flags, 'duplicate-rate', 0.05),
        ...(typeof flags['data-dir'] === 'string' ? { dataDir: flags['data-dir'] } : {}),
      });
    },
  },
  {
    name: 'backfill',
    usage: 'backfill <job>',
    summary: "re-read a job's objects from scratch without stopping the daemon",
    async action({ args, flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      const name = args[0];
      if (!name || !ctx.config.jobs.some((job) => job.name === name)) {
        throw new UsageError(`backfill needs one of the configured jobs: ${ctx.config.jobs.map((job) => job.name).join(', ') || '(none)'}`);
      }
      return withDatabase(ctx, { migrated: true }, async ({ db }) => {
        const reset = await startBackfill(db, name);
        process.stdout.write(`job ${name}: ${reset} cursor${reset === 1 ? '' : 's'} reset; its next run re-reads everything from scratch\n`);
        return 0;
      });
    },
  },
  {
    name: 'verify',
    usage: 'verify [--job NAME] [--sample N] [--associations]',
    summary: 'sample records from HubSpot (lowest priority, within the budget share) and report drift from the mirror; exit 1 on drift',
    options: { job: { type: 'string' }, sample: { type: 'string' }, associations: { type: 'boolean' } },
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      if (ctx.config.sandbox) throw new UsageError('verify compares the mirror with a HubSpot account; in sandbox mode the stand-in lives only inside the daemon');
      const sample = numberFlag(flags, 'sample', 200);
      if (!Number.isInteger(sample) || sample < 1) throw new UsageError('--sample takes a positive whole number');
      const { runVerify } = await import('./verify.ts');
      return withDatabase(ctx, { migrated: true }, (handle) =>
        runVerify(ctx, handle, { sample, associations: flags.associations === true, ...(typeof flags.job === 'string' ? { job: flags.job } : {}) }, (text) => void process.stdout.write(text)),
      );
    },
  },
  {
    name: 'outbox retry',
    usage: 'outbox retry [--dead]',
    summary: 'redeliver failed App Events now (--dead: also the dead ones)',
    options: { dead: { type: 'boolean' } },
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      return withDatabase(ctx, { migrated: true }, async ({ db }) => {
        const result = await retryOutbox(db, { dead: flags.dead === true });
        process.stdout.write(`${result.pending} pending event${result.pending === 1 ? '' : 's'} due now${flags.dead ? `, ${result.revived} dead event${result.revived === 1 ? '' : 's'} revived` : ''}\n`);
        return 0;
      });
    },
  },
  {
    name: 'triggers sync',
    usage: 'triggers sync [--examples]',
    summary: "reconcile Paragon trigger subscriptions with the configuration (--examples: also show each trigger's example payload)",
    options: { examples: { type: 'boolean' } },
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      if (!ctx.config.paragon) throw new UsageError('triggers sync needs a paragon section in the configuration');
      if (ctx.config.sandbox) throw new UsageError('triggers sync talks to the real Paragon; in sandbox mode the worker syncs triggers itself');
      return withDatabase(ctx, { migrated: true }, async ({ db }) => {
        const report = await syncTriggers(ctx.config, { log: ctx.log, db });
        const examples = flags.examples === true ? await triggerExamples(ctx.config, { log: ctx.log }) : undefined;
        process.stdout.write(`${JSON.stringify(examples ? { ...report, examples } : report, null, 2)}\n`);
        return report.failures.length > 0 ? 1 : 0;
      });
    },
  },
  {
    name: 'journal subscriptions sync',
    usage: 'journal subscriptions sync',
    summary: "reconcile the Webhooks Journal's subscriptions with the configuration",
    async action({ flags, env }) {
      const ctx = await loadContext(configFlag(flags), env);
      const journal = ctx.config.hubspot.journal;
      if (!journal) throw new UsageError('journal subscriptions sync needs a hubspot.journal section in the configuration');
      if (ctx.config.sandbox) throw new UsageError('journal subscriptions sync talks to the real HubSpot; in sandbox mode the worker syncs them itself');
      return withDatabase(ctx, { migrated: true }, async ({ db }) => {
        const config = await withJobsAsRun(ctx.config, db, ctx.log, { strict: true, source: ctx.configPath });
        const api = journalApi(config, journal, journalTokens(config, journal));
        const report = await syncSubscriptions({ db, api, log: ctx.log, config: { jobs: config.jobs, journal } });
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return report.failures.length > 0 ? 1 : 0;
      });
    },
  },
];
