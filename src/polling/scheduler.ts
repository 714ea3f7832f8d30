/**
 * The polling service: node-cron schedules per job (poll and archived sweep) whose callbacks only
 * call `runJob`. A run still going when its next tick comes is skipped, not queued; across processes
 * the job lease does the same. `stop()` stops the schedules, aborts nothing mid-page, waits for the
 * runs in flight and releases their leases.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import type { JobConfig } from '../config/schema.ts';
import { coerceError } from '../errors.ts';
import { createAdaptiveGate } from './adaptive.ts';
import { runJob, type PollDeps, type RunKind, type RunOutcome } from './jobs.ts';
import { failureBackoff, type FailureBackoff, type Service } from '../loop.ts';

export interface PollingServiceOptions extends Omit<PollDeps, 'worker' | 'signal'> {
  jobs: readonly JobConfig[];
  /** Lease owner id; default host:pid:random. */
  worker?: string;
  /** Run every job's poll once at start, without waiting for its first tick. Default true. */
  runAtStart?: boolean;
}

export interface PollingService extends Service {
  /** This process's lease owner id (other worker-side leases use it too). */
  readonly worker: string;
  /** Runs a job now (as a tick would); skipped when it is already running here or elsewhere. */
  trigger(jobName: string, kind?: RunKind): Promise<RunOutcome | undefined>;
  /** Runs a job now, after the run of it already going here (which may have started too early to see what matters). */
  runNow(jobName: string, kind?: RunKind): Promise<RunOutcome | undefined>;
  /** Next scheduled poll of each job. */
  nextRuns(): Record<string, Date | null>;
}

/** A unique lease owner for this process. */
export function workerId(): string {
  return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export function createPollingService(options: PollingServiceOptions): PollingService {
  const worker = options.worker ?? workerId();
  const controller = new AbortController();
  const deps: PollDeps = { ...options, worker, signal: controller.signal };
  const log = options.log.child({ module: 'polling' });
  const tasks: { job: string; kind: RunKind; task: ScheduledTask }[] = [];
  const inFlight = new Map<string, Promise<RunOutcome>>();
  let stopped = false;
  const clock = options.now ?? Date.now;
  const gates = new Map(options.jobs.filter((job) => job.adaptive.enabled).map((job) => [job.name, createAdaptiveGate(options.db, job, log)]));

  /** Per job and kind: failures in a row, and the ticks skipped until the next attempt is due. */
  const backoffs = new Map<string, { failures: FailureBackoff; retryAt: number }>();
  const backoffOf = (key: string, job: JobConfig, kind: RunKind) => {
    let state = backoffs.get(key);
    if (!state) {
      const failures = failureBackoff({ log: log.child({ job: job.name, kind }), what: `polling ${job.name} (${kind})`, baseMs: 10_000, maxMs: 600_000, now: clock });
      state = { failures, retryAt: 0 };
      backoffs.set(key, state);
    }
    return state;
  };

  /** `force`: run even while backing off after failures (an operator or the demo asked for it). */
  const trigger = async (jobName: string, kind: RunKind = 'poll', force = false): Promise<RunOutcome | undefined> => {
    const job = options.jobs.find((j) => j.name === jobName);
    if (!job || stopped) return undefined;
    const key = `${kind}:${job.name}`;
    if (inFlight.has(key)) {
      log.debug({ job: job.name, kind }, 'previous run still going: tick skipped');
      return { status: 'skipped', reason: 'leased' };
    }
    const backoff = backoffOf(key, job, kind);
    if (!force && clock() < backoff.retryAt) {
      log.debug({ job: job.name, kind, retryAt: new Date(backoff.retryAt) }, 'backing off after failures: tick skipped');
      return { status: 'skipped', reason: 'backoff' };
    }
    const run = (async () => {
      const startedAt = clock();
      const outcome = await runJob(deps, job, kind).catch((err: unknown): RunOutcome => ({ status: 'failed', runs: [], err: coerceError(err) }));
      if (outcome.status === 'failed') {
        const error = outcome.err ?? new Error(outcome.runs.find((r) => r.error)?.error ?? 'polling run failed');
        backoff.retryAt = clock() + backoff.failures.failed(error);
      } else if (outcome.status === 'ok') {
        backoff.failures.succeeded();
        backoff.retryAt = 0;
      }
      if (kind === 'poll' && outcome.status === 'ok') await adapt(job, startedAt);
      return outcome;
    })();
    inFlight.set(key, run);
    try {
      return await run;
    } finally {
      inFlight.delete(key);
    }
  };

  /** After a successful poll of an adaptive job: judge the webhooks, set the next interval. */
  const adapt = async (job: JobConfig, startedAt: number): Promise<void> => {
    const gate = gates.get(job.name);
    if (!gate) return;
    try {
      const decision = await gate.afterRun(startedAt);
      options.metrics?.gauge('polling.interval_seconds', decision.intervalMs / 1000, { job: job.name });
    } catch (err) {
      log.warn({ err: coerceError(err), job: job.name }, 'adaptive polling: could not judge the webhooks; interval kept');
    }
  };

  /** A scheduled tick: an adaptive job whose stretched interval has not elapsed skips it. */
  const tick = async (job: JobConfig): Promise<void> => {
    const gate = gates.get(job.name);
    if (gate) {
      const due = await gate.shouldRun(clock()).catch((err: unknown) => {
        log.warn({ err: coerceError(err), job: job.name }, 'adaptive polling: could not read the last run; polling');
        return true;
      });
      if (!due) return;
    }
    await trigger(job.name, 'poll');
  };

  const runNow = async (jobName: string, kind: RunKind = 'poll'): Promise<RunOutcome | undefined> => {
    for (let running = inFlight.get(`${kind}:${jobName}`); running; running = inFlight.get(`${kind}:${jobName}`)) await running;
    return trigger(jobName, kind, true);
  };

  return {
    name: 'polling',
    worker,
    trigger,
    runNow,
    nextRuns: () => Object.fromEntries(tasks.filter((t) => t.kind === 'poll').map((t) => [t.job, t.task.getNextRun()])),
    async start() {
      for (const job of options.jobs) {
        tasks.push({ job: job.name, kind: 'poll', task: cron.schedule(job.schedule, () => void tick(job), { name: `poll:${job.name}` }) });
        if (job.archivedSweep) {
          tasks.push({ job: job.name, kind: 'sweep', task: cron.schedule(job.archivedSweep, () => void trigger(job.name, 'sweep'), { name: `sweep:${job.name}` }) });
        }
        if (job.associationSweep !== 'off') {
          const sweep = job.associationSweep;
          tasks.push({ job: job.name, kind: 'associations', task: cron.schedule(sweep, () => void trigger(job.name, 'associations'), { name: `associations:${job.name}` }) });
        }
      }
      if (options.runAtStart !== false) for (const job of options.jobs) void trigger(job.name, 'poll');
      log.info({ jobs: options.jobs.map((j) => j.name), worker }, 'polling scheduled');
    },
    async stop() {
      stopped = true;
      for (const t of tasks) await t.task.destroy();
      // Runs stop at their next call: a page being written commits with its cursor first.
      controller.abort();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
