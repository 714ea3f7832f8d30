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
