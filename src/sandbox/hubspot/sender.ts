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
}

/**
 * POSTs with a per-request timeout, bounded concurrency and randomised, growing retries on any failure
 * (timeout, connection error, non-2xx). `idle()` resolves once nothing is queued, in flight or waiting to retry.
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
    return this.#o.clock.scale(this.#o.retryBaseMs * 2 ** (n - 1) * (0.5 + this.#o.rng.next()));
  }

  submit(job: SendJob, attemptNumber = 0, delayMs = 0): void {
    if (this.#stopped) return;
    this.#pending++;
    if (delayMs > 0) {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#enqueue(job, attemptNumber);
      }, delayMs);
      this.#timers.add(t);
    } else {
      this.#enqueue(job, attemptNumber);
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

  #enqueue(job: SendJob, attemptNumber: number): void {
    void this.#queue.add(async () => {
      const result = await this.#post(job, attemptNumber);
      if (this.#stopped) return;
      job.onAttempt(result);
      if (!result.ok && attemptNumber < this.#o.maxRetries) {
        this.submit(job, attemptNumber + 1, this.retryDelay(attemptNumber + 1));
      }
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
      return { attemptNumber, at, status: res.status, ok: res.status >= 200 && res.status < 300, durationMs: Date.now() - at };
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
