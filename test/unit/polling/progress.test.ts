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

  it('rewrites one live line on a TTY and ends it with a newline', () => {
    let now = 0;
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const { log, lines } = sink();
    const p = createProgress({ log, label: 'job', stream: tty, now: () => now });
    now = 1000;
    p.update(100, undefined);
    now = 1100;
    p.update(150, undefined); // throttled
    now = 2000;
    p.update(200, undefined);
    p.finish();
    expect(written).toEqual(['\r\x1b[2Kjob: 100 100/s', '\r\x1b[2Kjob: 200 100/s', '\r\x1b[2Kjob: 200 100/s\n']);
    expect(lines).toEqual([]);
  });
});
