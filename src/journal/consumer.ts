/**
 * The journal consumer (`worker` role): one holder per journal through a Postgres lease. It reads
 * entries after its committed offset (`batch/{offset}/next/{count}`; a short batch means caught
 * up, so the next read waits the poll interval), downloads each entry's file
 * before its URL expires (an expired URL is re-obtained by batch-reading the offset), and stores
 * the events in the inbox in the same transaction as the new offset, where the webhook processor
 * plans and applies them like push webhooks. First start: `earliest` (or `latest` to tail). An
 * expired offset (the consumer was down longer than HubSpot keeps events) is recorded as a gap,
 * the polling jobs it concerns re-read its time range, and reading starts over from `earliest`.
 */
import type { Kysely } from 'kysely';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { JobConfig, JournalConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import { failureBackoff, loopLifecycle, sleep, type Service } from '../loop.ts';
import type { Metrics } from '../metrics/registry.ts';
import { acquireLease, releaseLease, renewLease } from '../polling/lease-store.ts';
import { foldDuplicates, type ParsedBatch } from '../webhooks/inbox.ts';
import type { Call, EntryRef, Failure, JournalApi, JournalFile } from './api.ts';
import { commitEntries, getPosition, recordGap, type JournalPosition } from './consumer-store.ts';
import { journalIncoming } from '../webhooks/journal-events.ts';

/** One journal to read: the global one, or an account's local one. */
export interface JournalTarget {
  /** `global`, or `portal:<id>`: the key of its offset and lease. */
  key: string;
  installPortalId?: number;
}

export interface ConsumerDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics?: Metrics;
  config: Pick<JournalConfig, 'start' | 'pollIntervalMs' | 'batchSize' | 'downloadConcurrency' | 'leaseSeconds'>;
  target: JournalTarget;
  api: JournalApi;
  /** The polling jobs, to re-read a gap's range. */
  jobs: readonly JobConfig[];
  /** Lease owner id of this process. */
  worker: string;
  now?: () => number;
  random?: () => number;
  /** Called after an entry batch's files are downloaded, before their commit (a test pauses a worker here). */
  onDownloaded?: (entries: number) => Promise<void>;
}

export type StepOutcome =
  /** `more`: the read was a full batch, so there may be more to read at once. */
  | { kind: 'read'; entries: number; events: number; more: boolean }
  | { kind: 'caught-up' }
  /** The position moved while this step read (another consumer holds the journal now): nothing was committed. */
  | { kind: 'superseded' }
  | { kind: 'failed'; retryAfterMs: number | undefined; message: string };

/** How many times expired file URLs are re-obtained for one batch before the step gives up. */
const URL_REFRESHES = 3;
/** The longest wait after repeated failures. */
const MAX_BACKOFF_MS = 60_000;

/** Reads and commits what is new in one journal, once. */
export async function consumeStep(deps: ConsumerDeps, state: { emptySeen: boolean } = { emptySeen: false }): Promise<StepOutcome> {
  const position = await getPosition(deps.db, deps.target.key);
  if (!position) return startFrom(deps, state, state.emptySeen ? 'earliest' : deps.config.start);
  const next = await deps.api.next(position.offset, deps.config.batchSize);
  if (!next.ok) {
    if (next.kind !== 'expired') return failed(next);
    if (!(await recordExpiry(deps, position))) return superseded(deps);
    return startFrom(deps, state, 'earliest');
  }
  if (next.value.length === 0) return { kind: 'caught-up' };
  return readEntries(deps, position.offset, next.value, next.value.length >= deps.config.batchSize);
}

/** Reading without a position: the oldest entry kept (read it), or the newest (read after it). */
async function startFrom(deps: ConsumerDeps, state: { emptySeen: boolean }, which: 'earliest' | 'latest'): Promise<StepOutcome> {
  const first = await deps.api.first(which);
  if (!first.ok) return failed(first);
  if (first.value === null) {
    // Empty: whatever comes next is both the earliest and the latest; read it from its start.
    state.emptySeen = true;
    return { kind: 'caught-up' };
  }
  if (which === 'earliest') return readEntries(deps, null, [first.value], true);
  const now = new Date(nowMs(deps));
  const started = await commitEntries(deps.db, { journal: deps.target.key, from: null, offset: first.value.offset, publishedAt: null, lastEventAt: null, entries: 0, batch: { events: [], quarantined: [] }, now });
  if (!started.committed) return superseded(deps);
  deps.log.info({ journal: deps.target.key, offset: first.value.offset }, 'journal: first start at the latest entry (events before it are left to polling)');
  return { kind: 'read', entries: 0, events: 0, more: true };
}

/** Downloads the entries after `from` (null: from no position) and commits their events with the new offset. */
async function readEntries(deps: ConsumerDeps, from: string | null, refs: EntryRef[], more: boolean): Promise<StepOutcome> {
  const files = await downloadAll(deps, refs);
  if (!files.ok) return failed(files);
  await deps.onDownloaded?.(refs.length);
  const batch: ParsedBatch = { events: [], quarantined: [] };
  let lastEventAt: number | null = null;
  refs.forEach((ref, i) => {
    for (const raw of files.value[i]!.events) {
      const parsed = journalIncoming(raw, ref.offset);
      if ('quarantined' in parsed) batch.quarantined.push(parsed.quarantined);
      else {
        batch.events.push(parsed.event);
        if (parsed.event.occurredAt !== null) lastEventAt = Math.max(lastEventAt ?? 0, parsed.event.occurredAt);
      }
    }
  });
  // Only the journal reports an uninstall: worth a line of its own.
  for (const e of batch.events.filter((e) => e.subscriptionType === 'journal.APP_UNINSTALL')) {
    deps.log.warn({ portalId: e.portalId, occurredAt: e.occurredAt === null ? null : new Date(e.occurredAt).toISOString() }, 'the app was uninstalled from a portal (Webhooks Journal)');
    deps.metrics?.count('journal.app_uninstalls', 1, { portalId: e.portalId ?? 0 });
  }
  const { batch: folded, folded: copies } = foldDuplicates(batch);
  const publishedAt = files.value.at(-1)!.publishedAt;
  const commit = await commitEntries(deps.db, {
    journal: deps.target.key,
    from,
    offset: refs.at(-1)!.offset,
    publishedAt: Number.isFinite(publishedAt) ? publishedAt : null,
    lastEventAt,
    entries: refs.length,
    batch: folded,
    now: new Date(nowMs(deps)),
  });
  if (!commit.committed) return superseded(deps);
  const { stored } = commit;
  const labels = { journal: deps.target.key };
  deps.metrics?.count('journal.entries', refs.length, labels);
  deps.metrics?.count('journal.events.received', stored.inserted, labels);
  if (stored.duplicates + copies > 0) deps.metrics?.count('journal.events.duplicate', stored.duplicates + copies, labels);
  if (stored.quarantined > 0) deps.metrics?.count('journal.events.quarantined', stored.quarantined, labels);
  deps.log.debug({ journal: deps.target.key, entries: refs.length, events: batch.events.length, offset: refs.at(-1)!.offset }, 'journal entries committed');
  return { kind: 'read', entries: refs.length, events: batch.events.length, more };
}

/**
 * Every entry's file, in order. URLs that expired (before or during the download) are renewed by
 * one batch read of their offsets and tried again, a few times.
 */
async function downloadAll(deps: ConsumerDeps, refs: readonly EntryRef[]): Promise<Call<JournalFile[]>> {
  const files: (JournalFile | undefined)[] = refs.map(() => undefined);
  let pending = refs.map((ref, i) => ({ ref, i }));
  const queue = new PQueue({ concurrency: deps.config.downloadConcurrency });
  for (let round = 0; ; round++) {
    const expired: { ref: EntryRef; i: number }[] = [];
    let failure: Failure | undefined;
    await queue.addAll(
      pending.map(({ ref, i }) => async () => {
        const file = await deps.api.download(ref);
        if (file.ok) files[i] = file.value;
        else if (file.kind === 'expired') expired.push({ ref, i });
        else failure ??= file;
      }),
    );
    if (failure) return failure;
    if (expired.length === 0) return { ok: true, value: files as JournalFile[] };
    if (round === URL_REFRESHES) return { ok: false, kind: 'failed', status: null, message: `file URLs of ${expired.length} entries kept expiring` };
    const fresh = await deps.api.read(expired.map((e) => e.ref.offset));
    if (!fresh.ok) return fresh;
    const byOffset = new Map(fresh.value.found.map((ref) => [ref.offset, ref]));
    if (fresh.value.missing.length > 0) return { ok: false, kind: 'failed', status: null, message: `entries ${fresh.value.missing.join(', ')} are no longer kept` };
    deps.metrics?.count('journal.urls_renewed', expired.length, { journal: deps.target.key });
    pending = expired.map(({ ref, i }) => ({ ref: byOffset.get(ref.offset) ?? ref, i }));
  }
}

/** The offset expired unread: a gap in [newest event read, now). Polling re-reads it for the jobs concerned. */
async function recordExpiry(deps: ConsumerDeps, position: JournalPosition): Promise<boolean> {
  const now = nowMs(deps);
  const since = position.lastEventAt ?? position.publishedAt ?? position.updatedAt.getTime();
  const portal = deps.target.installPortalId;
  const jobs = deps.jobs.filter((job) => portal === undefined || job.portalId === portal).map((job) => job.name);
  const recorded = await recordGap(deps.db, { journal: deps.target.key, lostOffset: position.offset, since: new Date(since), until: new Date(now), detectedAt: new Date(now), jobs });
  if (!recorded) return false;
  deps.metrics?.count('journal.gaps', 1, { journal: deps.target.key });
  deps.log.error(
    { journal: deps.target.key, lostOffset: position.offset, since: new Date(since).toISOString(), until: new Date(now).toISOString(), jobs },
    'journal offset expired before it was read (down longer than HubSpot keeps events): gap recorded, polling re-reads it, reading starts over from the oldest entry',
  );
  return true;
}

/** Another consumer moved the journal's position during this step: what was read is left to it. */
function superseded(deps: ConsumerDeps): StepOutcome {
  deps.metrics?.count('journal.commits_superseded', 1, { journal: deps.target.key });
  deps.log.warn({ journal: deps.target.key }, 'journal position moved while this consumer read (another worker holds the journal): nothing committed');
  return { kind: 'superseded' };
}

function failed(f: Failure): StepOutcome {
  return { kind: 'failed', retryAfterMs: f.kind === 'rate_limited' ? f.retryAfterMs : undefined, message: f.message };
}

function nowMs(deps: Pick<ConsumerDeps, 'now'>): number {
  return (deps.now ?? Date.now)();
}

export interface JournalConsumer extends Service {
  /** The last step's outcome, and when it began (epoch ms): for the demo and tests. */
  lastOutcome(): StepOutcome | undefined;
  lastStepAt(): number | undefined;
}

/**
 * The consumer of one journal as a service: takes the journal's lease (another worker holding it
 * reads it meanwhile), then steps back to back while there is something to read, waits
 * `pollIntervalMs` when caught up, and backs off after failures (`Retry-After` on a 429).
 */
export function createJournalConsumer(deps: ConsumerDeps): JournalConsumer {
  const log = deps.log.child({ module: 'journal', journal: deps.target.key });
  const lease = `journal:${deps.target.key}`;
  const ttlMs = deps.config.leaseSeconds * 1000;
  const state = { emptySeen: false };
  const failing = failureBackoff({
    log, what: `reading journal ${deps.target.key}`, level: 'warn', baseMs: deps.config.pollIntervalMs, maxMs: MAX_BACKOFF_MS,
    ...(deps.now ? { now: deps.now } : {}), ...(deps.random ? { random: deps.random } : {}),
  });
  let last: StepOutcome | undefined;
  let lastAt: number | undefined;
  let held = false;
  let renewedAt = 0;

  const hold = async (): Promise<boolean> => {
    const now = nowMs(deps);
    if (held && now - renewedAt < ttlMs / 3) return true;
    const had = held;
    held = had ? await renewLease(deps.db, lease, deps.worker, new Date(now), ttlMs) : await acquireLease(deps.db, lease, deps.worker, new Date(now), ttlMs);
    if (held) renewedAt = now;
    if (had && !held) log.warn('journal lease lost: another worker reads this journal now');
    if (!had && held) log.info('journal lease taken: reading');
    return held;
  };

  const lifecycle = loopLifecycle(async (control) => {
    while (!control.stopping) {
      let waitMs = deps.config.pollIntervalMs;
      try {
        if (await hold()) {
          const startedAt = nowMs(deps);
          last = await consumeStep({ ...deps, log }, state);
          lastAt = startedAt;
          deps.metrics?.gauge('journal.caught_up', last.kind === 'caught-up' || (last.kind === 'read' && !last.more) ? 1 : 0, { journal: deps.target.key });
          if (last.kind === 'failed') {
            deps.metrics?.count('journal.failures', 1, { journal: deps.target.key });
            const backoff = failing.failed(new Error(last.message));
            // A 429 says how long; anything else backs off.
            waitMs = last.retryAfterMs ?? backoff;
          } else if (last.kind === 'superseded') {
            // Someone else reads this journal: check the lease now instead of at the next renewal.
            renewedAt = 0;
            continue;
          } else {
            failing.succeeded();
            // A full batch may have more behind it; a short one reached the end: wait, as when caught up.
            if (last.kind === 'read' && last.more) continue;
          }
        }
      } catch (err) {
        waitMs = failing.failed(coerceError(err));
      }
      await sleep(waitMs, control.signal);
    }
    if (held) await releaseLease(deps.db, lease, deps.worker).catch((err: unknown) => log.warn({ err }, 'journal lease release failed'));
    held = false;
  });

  return {
    name: `journal-consumer:${deps.target.key}`,
    lastOutcome: () => last,
    lastStepAt: () => lastAt,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}
