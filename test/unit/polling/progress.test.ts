import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, progressFigures } from '../../../src/polling/progress.ts';

function sink(): { log: pino.Logger; lines: { msg: string; done: number; etaSeconds?: number }[] } {
  const lines: { msg: string; done: number; etaSeconds?: number }[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString())); cb(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('progress', () => {
  it('computes rate, percent and ETA', () => {
    expect(progressFigures(500, 2000, 5000)).toEqual({ rate: 100, etaMs: 15_000, percent: 25 });
    expect(progressFigures(10, undefined, 1000)).toEqual({ rate: 10, etaMs: undefined, percent: undefined });
    expect(progressFigures(0, 100, 0)).toEqual({ rate: 0, etaMs: undefined, percent: 0 });
  });

  it('logs a line per interval when not on a TTY', () => {
    let now = 0;
    const { log, lines } = sink();
    const p = createProgress({ log, label: 'contacts incremental', now: () => now, logIntervalMs: 10_000 });
    now = 5_000;
    p.update(500, 2000);
    expect(lines).toEqual([]);
    now = 10_000;
    p.update(1000, 2000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ done: 1000, etaSeconds: 10, msg: 'contacts incremental: 1000/2000 (50.0%) 100/s ETA 10s' });
  });

  it('goes through the logger only, with total, percentage and ETA, never raw to the terminal', () => {
    let now = 0;
    const { log, lines } = sink();
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stderr.write;
    try {
      const p = createProgress({ log, label: 'contacts backfill', now: () => now, logIntervalMs: 1000 });
      now = 2000;
      p.update(400, 1000);
    } finally {
      process.stderr.write = write;
    }
    expect(written).toEqual([]);
    expect(lines).toEqual([expect.objectContaining({ done: 400, total: 1000, percent: 40, etaSeconds: 3, msg: 'contacts backfill: 400/1000 (40.0%) 200/s ETA 3s' })]);
  });
});
