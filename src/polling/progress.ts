import type { Logger } from 'pino';

export interface ProgressOptions {
  log: Logger;
  label: string;
  logIntervalMs?: number;
  now?: () => number;
}

export interface Progress {
  update(done: number, total: number | undefined): void;
}

/** Rate over the whole run and the ETA it implies; pure, for the line and the log. */
export function progressFigures(done: number, total: number | undefined, elapsedMs: number): { rate: number; etaMs: number | undefined; percent: number | undefined } {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  if (total === undefined || total <= 0) return { rate, etaMs: undefined, percent: undefined };
  const left = Math.max(0, total - done);
  return { rate, etaMs: rate > 0 ? (left / rate) * 1000 : undefined, percent: Math.min(100, (done * 100) / total) };
}

/**
 * Reports a long run's progress (done / total, percentage, records per second, ETA) as a log line
 * every `logIntervalMs`, through the logger only: raw terminal output would interleave with the
 * demo's live view and the JSON log. `hubsync status` shows the same figures from `sync_runs`.
 */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  const interval = options.logIntervalMs ?? 10_000;
  let lastOut = started;
  return {
    update(done, total) {
      const t = now();
      if (t - lastOut < interval) return;
      lastOut = t;
      const f = progressFigures(done, total, t - started);
      const of = total !== undefined ? `/${total}` : '';
      const pct = f.percent !== undefined ? ` (${f.percent.toFixed(1)}%)` : '';
      const eta = f.etaMs !== undefined ? ` ETA ${Math.ceil(f.etaMs / 1000)}s` : '';
      options.log.info(
        {
          done,
          total,
          percent: f.percent !== undefined ? Math.round(f.percent * 10) / 10 : undefined,
          ratePerSecond: Math.round(f.rate),
          etaSeconds: f.etaMs !== undefined ? Math.ceil(f.etaMs / 1000) : undefined,
        },
        `${options.label}: ${done}${of}${pct} ${Math.round(f.rate)}/s${eta}`,
      );
    },
  };
}
