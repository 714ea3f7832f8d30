import type { Logger } from 'pino';

/** Something `hubsync run` starts and must stop gracefully: a loop, a server, a scheduler. */
export interface Service {
  name: string;
  start(): Promise<void>;
  /** Stop taking new work, finish what is in flight, release leases. */
  stop(): Promise<void>;
}

/** Resolves after `ms`, or at once when `signal` aborts (a stopping loop must not wait out its sleep). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What a background loop sees of its service: whether stop was asked, and the signal that ends its sleeps. */
export interface LoopControl {
  readonly stopping: boolean;
  readonly signal: AbortSignal;
}

/**
 * A background loop's start and stop: `start` runs `body` (not twice at once), `stop` sets
 * `stopping`, aborts `signal` so sleeps end at once, and resolves when `body` has returned.
 */
export function loopLifecycle(body: (control: LoopControl) => Promise<void>): { control: LoopControl; start(): Promise<void>; stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopping = false;
  let abort = new AbortController();
  const control: LoopControl = {
    get stopping() {
      return stopping;
    },
    get signal() {
      return abort.signal;
    },
  };
  return {
    control,
    async start() {
      if (running) return;
      stopping = false;
      abort = new AbortController();
      running = body(control);
    },
    async stop() {
      if (!running) return;
      stopping = true;
      abort.abort();
      await running;
      running = undefined;
      stopping = false;
    },
  };
}

/**
 * Repeats `step` (which handles up to `batchSize` rows and says how many) until one handles fewer
 * or `stop()` says so; returns the total. Large deletes go in slices that never hold long locks.
 */
export async function inBatches(step: (limit: number) => Promise<number>, batchSize: number, stop: () => boolean = () => false): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await step(batchSize);
    total += n;
    if (n < batchSize || stop()) return total;
  }
}

/**
 * Exponential backoff with "equal jitter": half the step fixed, half random, so many retries
 * spread out but none comes back sooner than half its step. `n` (the failures so far) starts at 1.
 */
export function backoffMs(n: number, baseMs: number, maxMs: number, random: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(n - 1, 0), 40));
  return Math.round(step / 2 + (step / 2) * random);
}

/** A loop's view of a failure that repeats (the database down, an API away). */
export interface FailureBackoff {
  /** Records a failed attempt and returns how long to wait before the next one; logs only the first of a run. */
  failed(err: unknown, fields?: Record<string, unknown>): number;
  /** Records a success; when it ends a run of failures, logs once how long that lasted. */
  succeeded(): void;
  /** Consecutive failures (0 after a success). */
  readonly failures: number;
}

export interface FailureBackoffOptions {
  log: Pick<Logger, 'error' | 'warn' | 'info'>;
  /** What fails, for the two log lines: `webhook processing`. */
  what: string;
  baseMs: number;
  maxMs: number;
  /** Level of the line that says a failure started. */
  level?: 'error' | 'warn';
  now?: () => number;
  random?: () => number;
}

/**
 * How every background loop lives through repeated failures: waits that double from `baseMs` up
 * to `maxMs`, with jitter, and two log lines in all: one when the failures start, one (with how
 * long they lasted and how many attempts failed) when the loop succeeds again.
 */
export function failureBackoff(options: FailureBackoffOptions): FailureBackoff {
  const { log, what, baseMs, maxMs, level = 'error', now = Date.now, random = Math.random } = options;
  let failures = 0;
  let since = 0;
  return {
    get failures() {
      return failures;
    },
    failed(err, fields = {}) {
      failures++;
      const wait = backoffMs(failures, baseMs, maxMs, random());
      if (failures === 1) {
        since = now();
        log[level]({ err, ...fields, retryInMs: wait }, `${what} failed; retrying with backoff until it recovers`);
      }
      return wait;
    },
    succeeded() {
      if (failures === 0) return;
      log.info({ failedAttempts: failures, failingForMs: now() - since }, `${what} recovered`);
      failures = 0;
    },
  };
}
