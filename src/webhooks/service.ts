/**
 * The webhook services `hubsync run` starts: the receiver (`web`) and the processor (`worker`).
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { failAbandonedWebhookEvents, INBOX_CHANNEL, pruneQuarantine, pruneWebhookEvents, tidyWebhookQueue, webhookStatus } from './inbox-store.ts';
import { mirrorProperties, type HubSpotReader } from '../hubspot/objects.ts';
import { listenProblem } from '../errors.ts';
import { failureBackoff, inBatches, loopLifecycle, sleep, type LoopControl, type Service } from '../loop.ts';
import { maintainTables } from '../db/maintenance.ts';
import type { Listen, Unlisten } from '../db/listen.ts';
import type { Metrics } from '../metrics/registry.ts';
import { STALE_AFTER_MS } from '../processes/heartbeat.ts';
import { rosterPlace, type RosterPlace } from '../processes/store.ts';
import { FLOOD_HOLD_MS, floodWatch, restAfter } from './flood.ts';
import { processWebhookBatch, type ProcessorDeps } from './processor.ts';
import type { Readiness, ReceiverDeps } from './handlers.ts';
import { buildReceiver } from './receiver.ts';

/**
 * The receiver as a service: listens on `http.host:http.port`. Stop first drains for up to
 * `http.drainMs` (every request answered 503 with `Connection: close`, so senders and load
 * balancers move on cleanly), ending early once no connection is open; then it closes the server
 * after the requests in flight finish.
 */
export function createReceiverService(deps: ReceiverDeps): Service & { app: FastifyInstance; address(): string | undefined } {
  let draining = false;
  const app = buildReceiver({ ...deps, draining: () => draining });
  const open = new Set<Socket>();
  let allClosed: (() => void) | undefined;
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0) allClosed?.();
    });
  });
  let address: string | undefined;
  return {
    name: 'webhook-receiver',
    app,
    address: () => address,
    async start() {
      const { host, port } = deps.config.http;
      try {
        address = await app.listen({ host, port });
      } catch (err) {
        throw listenProblem(err, `${host}:${port}`, 'http.port (or http.host)') ?? err;
      }
      deps.log.info({ address }, 'webhook receiver listening');
    },
    async stop() {
      draining = true;
      if (open.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          allClosed = resolve;
          timer = setTimeout(resolve, deps.config.http.drainMs);
        });
        clearTimeout(timer);
      }
      // In-flight requests finish; a client still sending after the grace is cut off.
      const cutOff = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(cutOff);
      }
    },
  };
}

/** How long a stopping receiver waits for requests in flight (HubSpot itself waits 5 s for an answer). */
const CLOSE_GRACE_MS = 10_000;

export interface ProcessorServiceDeps extends ProcessorDeps {
  /** The idle poll: how long to wait for work when no notification comes. */
  intervalMs: number;
  /** Hear new events at once (LISTEN on `INBOX_CHANNEL`); without it, the idle poll alone finds them. */
  listen?: Listen;
  /** How often the backlog gauges are refreshed from the database. */
  statusIntervalMs?: number;
  /** Processed events older than this are deleted (0: never), checked every `pruneIntervalMs`. */
  retentionHours?: number;
  pruneIntervalMs?: number;
  /** Batches in flight at once (`webhooks.processConcurrency`), default 1. */
  concurrency?: number;
  /** How often a lane claims the oldest events whatever their share (see the lanes below), default every second. */
  frontEveryMs?: number;
  /** The share of the time a worker works while a receiver is flooded (`webhooks.floodShare`), default 1: never rests. */
  floodShare?: number;
  /**
   * This process's heartbeat id (`hubsync_processes`). With it, the processes running a processor
   * divide the queue's shares between all their lanes, each process finding its place among the
   * live ones at every status refresh; without it, this process's lanes divide them alone.
   */
  processId?: string;
}

/** The roles whose processes run a processor (`webhookServices`), among whom the queue's shares are divided. */
const PROCESSOR_ROLES: readonly string[] = ['worker', 'all'];

const PRUNE_BATCH = 5_000;

/** How often, by default, a lane claims the oldest events whatever their share. */
const FRONT_EVERY_MS = 1_000;

/**
 * Properties to hydrate: the sync job's list for that portal and type (plus the timestamps and
 * merge list the mirror needs), else all.
 */
export function jobProperties(config: Pick<Config, 'jobs'>): (portalId: number, objectType: string) => readonly string[] | 'all' {
  return (portalId, objectType) => {
    const job = jobOf(config, portalId, objectType);
    if (!job || job.properties === 'all') return 'all';
    return mirrorProperties(objectType, job.properties);
  };
}

/** Types whose associations are read with a hydrated record: the sync job's `associations` for that portal and type, else none. */
function jobAssociations(config: Pick<Config, 'jobs'>): (portalId: number, objectType: string) => readonly string[] {
  return (portalId, objectType) => jobOf(config, portalId, objectType)?.associations ?? [];
}

function jobOf(config: Pick<Config, 'jobs'>, portalId: number, objectType: string): Config['jobs'][number] | undefined {
  return config.jobs.find((j) => j.portalId === portalId && j.objectType === objectType);
}

/** The tables webhook processing churns: their statistics and dead rows are kept in check by the worker. */
const CHURNED_TABLES = ['webhook_events', 'webhook_pending', 'hubspot_objects', 'change_ledger'];

/**
 * The processor loop as a service: runs batches back to back while there is work, then waits
 * `intervalMs`. Beside it, on its own schedule (`statusIntervalMs`), housekeeping: the backlog
 * gauges, abandoned events, table statistics and dead rows, and (every `pruneIntervalMs`)
 * retention. Stop ends the waits at once and resolves after the batch in flight is done.
 */
export function createProcessorService(deps: ProcessorServiceDeps): Service & { idle(): Promise<void> } {
  const log = deps.log.child({ module: 'webhook-processor' });
  const statusEveryMs = deps.statusIntervalMs ?? 10_000;
  const now = () => (deps.now ? deps.now().getTime() : Date.now());
  /** The lanes' waits between batches; aborting one ends that wait at once (a notification, idle()). */
  const wakes = new Set<AbortController>();
  const wakeAll = () => {
    for (const wake of wakes) wake.abort();
  };
  const flood = floodWatch(now);
  const floodShare = deps.floodShare ?? 1;
  let yielding = false;
  /** Whether to yield to the receivers now (logged when that starts and ends). */
  const yieldNow = (): boolean => {
    const flooded = floodShare < 1 && flood.flooded();
    if (flooded !== yielding) log.info({ share: floodShare }, flooded ? 'receivers flooded: processing one batch at a time, resting between batches' : 'flood over: processing at full speed');
    yielding = flooded;
    return flooded;
  };
  let lastPrune = 0;
  let batchesStarted = 0;
  /** This process among the live processes running a processor (see `processId`). */
  let place: RosterPlace = { index: 0, count: 1 };
  /** Each waits for a batch that started after it did (so it saw everything stored before). */
  let idleWaiters: { after: number; resolve: () => void }[] = [];
  const resolveIdle = (batch: number) => {
    for (const waiter of idleWaiters) if (waiter.after < batch) waiter.resolve();
    idleWaiters = idleWaiters.filter((waiter) => waiter.after >= batch);
  };

  const findPlace = async () => {
    if (deps.processId) place = await rosterPlace(deps.db, deps.processId, PROCESSOR_ROLES, new Date(now() - STALE_AFTER_MS));
  };
  // Measured on a timer, not after idle batches: under a steady backlog every batch is full, and
  // a gauge refreshed only after a short batch would read 0 while the backlog grows.
  const refreshStatus = async () => {
    await findPlace();
    const abandoned = await failAbandonedWebhookEvents(deps.db, new Date(now()), deps.config.maxAttempts);
    if (abandoned > 0) log.error({ abandoned }, 'webhook events abandoned: every attempt ended without an outcome');
    const stale = await tidyWebhookQueue(deps.db);
    if (stale > 0) log.warn({ stale }, 'queue entries of events processed, given up on or deleted by hand were removed');
    const status = await webhookStatus(deps.db, new Date(now()), { retrying: false });
    deps.metrics.gauge('webhook.backlog', status.backlog);
    deps.metrics.gauge('webhook.oldest_unprocessed_seconds', status.oldestUnprocessedSeconds ?? 0);
    deps.metrics.gauge('webhook.failed', status.failed);
    deps.metrics.gauge('webhook.quarantined', status.quarantined);
  };

  // Small batches, so a large first prune never holds long locks or one long transaction.
  const prune = async () => {
    const hours = deps.retentionHours ?? 0;
    if (hours <= 0 || now() - lastPrune < (deps.pruneIntervalMs ?? 10 * 60_000)) return;
    lastPrune = now();
    const before = new Date(now() - hours * 3_600_000);
    for (const [what, prune] of [['processed webhook events', pruneWebhookEvents], ['quarantined webhook events', pruneQuarantine]] as const) {
      const deleted = await inBatches((limit) => prune(deps.db, before, limit), PRUNE_BATCH, () => housekeeping.control.stopping);
      if (deleted > 0) log.info({ deleted, before }, `pruned ${what}`);
    }
  };

  // Planner statistics and dead rows, whether or not autovacuum runs (the embedded database has none).
  const maintain = async () => {
    const done = await maintainTables(deps.db, CHURNED_TABLES);
    if (done.analyze.length + done.vacuum.length > 0) log.debug(done, 'refreshed table statistics');
  };

  const housekeepingFailures = failureBackoff({ log, what: 'webhook inbox housekeeping', level: 'warn', baseMs: Math.max(statusEveryMs, MIN_HOUSEKEEPING_MS), maxMs: MAX_BACKOFF_MS });
  const housekeeping = loopLifecycle(async (control) => {
    while (!control.stopping) {
      let wait = Math.max(statusEveryMs, MIN_HOUSEKEEPING_MS);
      let failed = false;
      for (const [what, task] of [['status', refreshStatus], ['table maintenance', maintain], ['retention', prune]] as const) {
        if (control.stopping) break;
        try {
          await task();
        } catch (err) {
          if (!failed) wait = housekeepingFailures.failed(err, { task: what });
          failed = true;
        }
      }
      if (!failed) housekeepingFailures.succeeded();
      await sleep(wait, control.signal);
    }
  });

  // Stopping aborts the control's signal: a batch waiting on HubSpot reads gives up waiting (its
  // events are retried) and the waits between batches end.
  const failures = failureBackoff({ log, what: 'webhook processing', baseMs: deps.intervalMs, maxMs: MAX_BACKOFF_MS });
  const lanes = Math.max(1, deps.concurrency ?? 1);
  const frontEveryMs = deps.frontEveryMs ?? FRONT_EVERY_MS;
  /**
   * When a lane last claimed from the front of the queue, whatever the shares. A lane waiting on
   * HubSpot reads (up to half its lease) claims nothing meanwhile, and the others take its share's
   * events only to fill a short batch: under a backlog they would wait for it. So at least every
   * `frontEveryMs` one claim takes the oldest events instead, as does a lane working alone in a flood.
   */
  let frontAt = now();
  /** Batches in flight now, across the lanes. */
  let inFlight = 0;
  /**
   * The newest batch that found less than a full batch of work. Its claim skipped only events
   * locked by batches then in flight, so once no lane has a batch in flight, everything stored
   * before it started is done: idle waiters up to it resolve. A batch that throws clears it, a
   * batch during which another threw does not count (the events it skipped are pending again), and
   * neither does one that started while events leased by a batch that threw were not yet due.
   */
  let quiet = 0;
  let throws = 0;
  /**
   * When the leases of batches that threw end: their events are not due before, so a batch that
   * starts earlier and finds nothing to claim does not count as quiet.
   */
  let leasedUntil = 0;
  const settle = () => {
    if (quiet > 0 && inFlight === 0) resolveIdle(quiet);
  };
  const lane = async (control: LoopControl, index: number) => {
    // Claims lease (see ProcessorDeps.leaseAll) until a batch has claimed something after a start or
    // after a batch that threw: a claim applied in its own transaction counts its attempt only if it
    // commits, so a batch that keeps failing the same way (a statement timeout, the connection cut
    // mid-transaction) would otherwise be retried for ever without using up maxAttempts.
    let leaseNext = true;
    // Registered for the whole batch too: a notification during it ends the wait after it at once.
    let wake = new AbortController();
    wakes.add(wake);
    while (!control.stopping) {
      // A flood leaves one lane working; the others look again when a report of it would have lapsed.
      if (index > 0 && yieldNow()) {
        await sleep(FLOOD_HOLD_MS, control.signal);
        continue;
      }
      let full = false;
      let wait = deps.intervalMs;
      const batch = ++batchesStarted;
      const throwsBefore = throws;
      const startedAt = now();
      // Working alone in a flood, the lane takes the oldest events: its own share would otherwise keep the others' waiting until the flood is over.
      const front = yieldNow() || startedAt - frontAt >= frontEveryMs;
      if (front) frontAt = startedAt;
      let leased = 0;
      inFlight += 1;
      try {
        const result = await processWebhookBatch({
          ...deps,
          log,
          signal: control.signal,
          leaseAll: leaseNext,
          leased: (until) => (leased = until.getTime()),
          ...(front ? {} : { share: { lane: place.index * lanes + index, lanes: place.count * lanes } }),
        });
        if (result.claimed > 0) leaseNext = false;
        failures.succeeded();
        full = result.claimed >= deps.config.processBatchSize;
        if (!full && throws === throwsBefore && startedAt >= leasedUntil) quiet = Math.max(quiet, batch);
      } catch (err) {
        leaseNext = true;
        quiet = 0;
        throws += 1;
        leasedUntil = Math.max(leasedUntil, leased);
        wait = failures.failed(err);
      }
      inFlight -= 1;
      settle();
      // Resting is not cut short by notifications: in a flood they come with every store.
      const rest = yieldNow() ? restAfter(now() - startedAt, floodShare) : 0;
      if (rest > 0) {
        deps.metrics.count('webhook.processor.rested_ms', rest);
        await sleep(rest, control.signal);
      }
      if (full || control.stopping) continue;
      await sleep(wait, AbortSignal.any([control.signal, wake.signal]));
      wakes.delete(wake);
      wake = new AbortController();
      wakes.add(wake);
    }
    wakes.delete(wake);
  };
  // Lanes: several batches in flight, each its own transaction, as separate workers would run them
  // (SKIP LOCKED claims; the mirror locks its rows in one key order): one batch's planning overlaps
  // another's statements. Each lane claims its own share of the objects first (`DueEvents.share`;
  // with `processId`, the shares are divided among the lanes of every live processor process):
  // lanes claiming alike took batches about the same objects (a backlog of changes to a thousand
  // contacts puts most of them in every batch), so each batch's mirror statements waited for the
  // other lane's commit and the lanes applied one at a time.
  const lifecycle = loopLifecycle(async (control) => {
    await Promise.all(Array.from({ length: lanes }, (_, index) => lane(control, index)));
  });

  let unlisten: Unlisten | undefined;
  return {
    name: 'webhook-processor',
    async start() {
      // A notification during a batch ends the wait after it at once: latency is the batch's work.
      unlisten = await deps.listen?.(INBOX_CHANNEL, (payload) => {
        flood.heard(payload);
        wakeAll();
      });
      // The first batches claim from this process's place already; if the database is away, as if alone until the first refresh.
      await findPlace().catch(() => {});
      await lifecycle.start();
      await housekeeping.start();
    },
    async stop() {
      await unlisten?.();
      await Promise.all([lifecycle.stop(), housekeeping.stop()]);
      resolveIdle(Number.POSITIVE_INFINITY);
    },
    /** Resolves once a batch started after this call found less than a full batch of work (tests, demo). */
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push({ after: batchesStarted, resolve });
        wakeAll();
      });
    },
  };
}

/** Waits after repeated failures (the database away) grow to this. */
const MAX_BACKOFF_MS = 30_000;

/** A floor for the housekeeping period, so `statusIntervalMs: 0` (tests) cannot spin. */
const MIN_HOUSEKEEPING_MS = 20;

export interface WebhookServicesDeps {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  metrics: Metrics;
  /** Hydration reads (the account's shared budget, priority 'hydration'). */
  reader?: HubSpotReader;
  /** Freshness for /readyz. */
  readiness?: Readiness;
  /** LISTEN for new events (the database handle's). */
  listen?: Listen;
  /** This process's heartbeat id: the processors divide the queue's shares among them (see `ProcessorServiceDeps.processId`). */
  processId?: string;
}

/** The webhook services a role runs, wired from the configuration: `web` the receiver, `worker` the processor. */
export function webhookServices(deps: WebhookServicesDeps, role: 'web' | 'worker' | 'all'): Service[] {
  const { config, db, log, metrics } = deps;
  const services: Service[] = [];
  if (role !== 'worker') services.push(createReceiverService({ db, log, metrics, config, ...(deps.readiness ? { readiness: deps.readiness } : {}) }));
  if (PROCESSOR_ROLES.includes(role)) {
    services.push(
      createProcessorService({
        db,
        log,
        metrics,
        config: config.webhooks,
        ...(deps.reader ? { reader: deps.reader } : {}),
        ...(deps.listen ? { listen: deps.listen } : {}),
        properties: jobProperties(config),
        associations: jobAssociations(config),
        intervalMs: config.webhooks.processIntervalMs,
        concurrency: config.webhooks.processConcurrency,
        floodShare: config.webhooks.floodShare,
        retentionHours: config.webhooks.retentionHours,
        ...(deps.processId ? { processId: deps.processId } : {}),
      }),
    );
  }
  return services;
}
