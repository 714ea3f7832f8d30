import type { Logger } from 'pino';

export interface ProgressOptions {
  log: Logger;
  label: string;
  /** A TTY gets a live line (rewritten in place); anything else periodic log lines. */
  stream?: NodeJS.WriteStream | undefined;
  logIntervalMs?: number;
  now?: () => number;
}

export interface Progress {
  update(done: number, total: number | undefined): void;
  finish(): void;
}

/** Rate over the whole run and the ETA it implies; pure, for the line and the log. */
export function progressFigures(done: number, total: number | undefined, elapsedMs: number): { rate: number; etaMs: number | undefined; percent: number | undefined } {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  if (total === undefined || total <= 0) return { rate, etaMs: undefined, percent: undefined };
  const left = Math.max(0, total - done);
  return { rate, etaMs: rate > 0 ? (left / rate) * 1000 : undefined, percent: Math.min(100, (done * 100) / total) };
}

/** Reports a long run's progress: done / total, records per second, ETA. */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  const tty = options.stream?.isTTY === true ? options.stream : undefined;
  const interval = options.logIntervalMs ?? 10_000;
  let lastOut = started;
  let drawn = false;
  let state = { done: 0, total: undefined as number | undefined };

  const line = () => {
    const f = progressFigures(state.done, state.total, now() - started);
    const of = state.total !== undefined ? `/${state.total}` : '';
    const pct = f.percent !== undefined ? ` (${f.percent.toFixed(1)}%)` : '';
    const eta = f.etaMs !== undefined ? ` ETA ${Math.ceil(f.etaMs / 1000)}s` : '';
    return { text: `${options.label}: ${state.done}${of}${pct} ${Math.round(f.rate)}/s${eta}`, f };
  };

  return {
    update(done, total) {
      state = { done, total };
      const t = now();
      if (tty) {
        if (t - lastOut < 200) return;
        lastOut = t;
        drawn = true;
        tty.write(`\r\x1b[2K${line().text}`);
      } else if (t - lastOut >= interval) {
        lastOut = t;
        const { text, f } = line();
        options.log.info({ done, total, ratePerSecond: Math.round(f.rate), etaSeconds: f.etaMs !== undefined ? Math.ceil(f.etaMs / 1000) : undefined }, text);
      }
    },
    finish() {
      if (tty && drawn) tty.write(`\r\x1b[2K${line().text}\n`);
    },
  };
}
