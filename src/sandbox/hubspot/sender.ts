import PQueue from 'p-queue';
import type { Clock } from './clock.ts';
import type { Rng } from './random.ts';

export interface AttemptResult {
  attemptNumber: number;
  /** Epoch ms when the request was sent. */
  at: number;
  /** HTTP status, null on timeout or connection error. */
  status: number | null;
  ok: boolean;
  error?: string;
  /** A failure after which no retry follows (out of retries, out of the window, or not retryable). */
  final?: boolean;
  /** The response's `Retry-After` header, when it had one. */
  retryAfter?: string;
  durationMs: number;
}

export interface SendJob {
  url: string;
  /** Builds the body and headers for one attempt (the attempt number may be inside the body). */
  build(attemptNumber: number): { body: string; headers: Record<string, string> };
  onAttempt(result: AttemptResult): void;
}

export interface SenderOptions {
  clock: Clock;
  rng: Rng;
  concurrency: number;
  /** HubSpot ms (scaled): how long the receiver has to answer. */
  timeoutMs: number;
  /** Retries after the first attempt (HubSpot: 10). */
  maxRetries: number;
  /** HubSpot ms (scaled) before the first retry; later ones grow exponentially, randomised ±50%. */
  retryBaseMs: number;
  /** HubSpot ms (scaled): no gap between two attempts grows beyond this. Default unbounded. */
  maxGapMs?: number;
  /** HubSpot ms (scaled) after the first attempt past which nothing is retried. Default unbounded. */
  retryWindowMs?: number;
  /** Which failures are retried; default every one (timeouts, connection errors, any non-2xx). */
  retryable?: (result: AttemptResult) => boolean;
  /** A 429's `Retry-After` is honoured in these HubSpot ms per unit (1000: seconds); default ignored. */
  retryAfterUnitMs?: number;
}

/**
 * POSTs with a per-request timeout, bounded concurrency and randomised, growing retries of the failures the
 * policy retries (by default any: timeout, connection error, non-2xx), within a count and a time window.
 * `idle()` resolves once nothing is queued, in flight or waiting to retry.
 */
export class Sender {
  readonly #o: SenderOptions;
  readonly #queue: PQueue;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #aborts = new Set<AbortController>();
  #pending = 0;
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(options: SenderOptions) {
    this.#o = options;
    this.#queue = new PQueue({ concurrency: options.concurrency });
  }

  /** Retry delay before attempt `n` (n >= 1), in wall ms. */
  retryDelay(n: number): number {
    const step = Math.min(this.#o.maxGapMs ?? Number.POSITIVE_INFINITY, this.#o.retryBaseMs * 2 ** (n - 1));
    return this.#o.clock.scale(step * (0.5 + this.#o.rng.next()));
  }

  /** The wall ms to wait before retrying after `result`, or null when it is not retried. */
  #nextDelay(result: AttemptResult, firstAt: number): number | null {
    const o = this.#o;
    const n = result.attemptNumber + 1;
    if (result.ok || n > o.maxRetries || (o.retryable && !o.retryable(result))) return null;
    const after = result.status === 429 && o.retryAfterUnitMs !== undefined ? Number(result.retryAfter) : Number.NaN;
    const delay = Number.isFinite(after) && after >= 0 ? o.clock.scale(after * o.retryAfterUnitMs!) : this.retryDelay(n);
    if (o.retryWindowMs !== undefined && Date.now() + delay - firstAt > o.clock.scale(o.retryWindowMs)) return null;
    return delay;
  }

  submit(job: SendJob, attemptNumber = 0, delayMs = 0, firstAt?: number): void {
    if (this.#stopped) return;
    this.#pending++;
    if (delayMs > 0) {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#enqueue(job, attemptNumber, firstAt);
      }, delayMs);
      this.#timers.add(t);
    } else {
      this.#enqueue(job, attemptNumber, firstAt);
    }
  }

  /** Work counted by `idle()` that runs outside the sender (e.g. a fault delay before submit). */
  hold(): () => void {
    this.#pending++;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.#done();
      }
    };
  }

  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.clear();
    for (const a of this.#aborts) a.abort();
    await this.#queue.onIdle();
    this.#pending = 0;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #enqueue(job: SendJob, attemptNumber: number, firstAt: number | undefined): void {
    void this.#queue.add(async () => {
      const result = await this.#post(job, attemptNumber);
      if (this.#stopped) return;
      const first = firstAt ?? result.at;
      const delay = this.#nextDelay(result, first);
      job.onAttempt({ ...result, ...(delay === null && !result.ok ? { final: true } : {}) });
      if (delay !== null) this.submit(job, attemptNumber + 1, delay, first);
    }).finally(() => this.#done());
  }

  async #post(job: SendJob, attemptNumber: number): Promise<AttemptResult> {
    const { body, headers } = job.build(attemptNumber);
    const at = Date.now();
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.#o.clock.scale(this.#o.timeoutMs));
    try {
      const res = await fetch(job.url, {
        method: 'POST', body, signal: abort.signal,
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'HubSpot Connect 2.0 (sandbox)', ...headers },
      });
      await res.arrayBuffer().catch(() => undefined);
      const retryAfter = res.headers.get('retry-after');
      return { attemptNumber, at, status: res.status, ok: res.status >= 200 && res.status < 300, ...(retryAfter !== null ? { retryAfter } : {}), durationMs: Date.now() - at };
    } catch (err) {
      const error = abort.signal.aborted ? 'timeout' : err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      return { attemptNumber, at, status: null, ok: false, error, durationMs: Date.now() - at };
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
  }

  #done(): void {
    this.#pending--;
    if (this.#pending <= 0) {
      this.#pending = 0;
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }
}
