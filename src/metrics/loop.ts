import type { Logger } from 'pino';
import type { MetricsConfig } from '../config/schema.ts';
import type { Metrics, MetricsSnapshot } from './registry.ts';
import { failureBackoff, type Service } from '../loop.ts';

/** Reads state that lives in the database (backlogs, outbox, coverage) into gauges before each line. */
export type Collector = (metrics: Metrics, now: Date) => Promise<void>;

export interface MetricsLine {
  /** Counter increases since the previous line. */
  counts: Record<string, number>;
  /** Counter totals since the process started. */
  totals: Record<string, number>;
  gauges: Record<string, number>;
  samples: MetricsSnapshot['samples'];
}

/** Turns consecutive snapshots into one line's figures. Pure. */
export function metricsLine(snapshot: MetricsSnapshot, previousTotals: Readonly<Record<string, number>>): MetricsLine {
  const counts: Record<string, number> = {};
  for (const [key, total] of Object.entries(snapshot.counters)) counts[key] = total - (previousTotals[key] ?? 0);
  return { counts, totals: snapshot.counters, gauges: snapshot.gauges, samples: snapshot.samples };
}

/**
 * The l2met form Heroku's log-based metrics read: `count#` for increases, `sample#` for gauges,
 * `measure#` for latency and lag summaries. Labels fold into the name (`events.received.hubspot`).
 */
export function formatL2met(line: MetricsLine, source: string): string {
  const tokens = [`source=${source}`];
  for (const [key, value] of Object.entries(line.counts)) tokens.push(`count#${l2metName(key)}=${value}`);
  for (const [key, value] of Object.entries(line.gauges)) tokens.push(`sample#${l2metName(key)}=${round(value)}`);
  for (const [key, summary] of Object.entries(line.samples)) {
    const name = l2metName(key);
    tokens.push(`measure#${name}.p50=${round(summary.p50)}ms`, `measure#${name}.p95=${round(summary.p95)}ms`);
  }
  return tokens.join(' ');
}

function l2metName(key: string): string {
  const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
  if (!match?.[2]) return key;
  const labels = match[2].split(',').map((pair) => pair.split('=')[1] ?? pair);
  return [match[1], ...labels].join('.').replace(/[^A-Za-z0-9_.-]/g, '_');
}

const round = (value: number) => Math.round(value * 100) / 100;

export interface MetricsLoopDeps {
  metrics: Metrics;
  log: Logger;
  config: MetricsConfig;
  collectors?: readonly Collector[];
  /** Where l2met lines go (plain text, one per interval); stdout by default. */
  write?: (text: string) => void;
  now?: () => Date;
}

/** Emits one `metrics` line every `metrics.intervalSeconds`, and a last one at stop. */
export function metricsService(deps: MetricsLoopDeps): Service {
  const { metrics, log, config, collectors = [], write = (text) => process.stdout.write(`${text}\n`), now = () => new Date() } = deps;
  let timer: NodeJS.Timeout | undefined;
  let previous: Record<string, number> = {};
  let inFlight: Promise<void> = Promise.resolve();

  // The line keeps its period whatever fails; a collector failing for a while is logged when it starts and ends.
  const failing = collectors.map(() => failureBackoff({ log, what: 'metrics collector', level: 'warn', baseMs: 0, maxMs: 0 }));
  const emit = async () => {
    const at = now();
    for (const [index, collect] of collectors.entries()) {
      try {
        await collect(metrics, at);
        failing[index]!.succeeded();
      } catch (err) {
        failing[index]!.failed(err, { collector: collect.name || index });
      }
    }
    const line = metricsLine(metrics.snapshot(), previous);
    previous = line.totals;
    if (config.format === 'l2met') write(formatL2met(line, config.source));
    else log.info({ metrics: line }, 'metrics');
  };

  return {
    name: 'metrics',
    async start() {
      timer = setInterval(() => {
        inFlight = inFlight.then(emit);
      }, config.intervalSeconds * 1000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await inFlight;
      await emit();
    },
  };
}
