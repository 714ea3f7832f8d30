/**
 * In-process counters, gauges and samples for the periodic `metrics` log line.
 *
 * Modules receive the registry as a dependency and record what they do; the metrics loop reads
 * a snapshot every interval. Counters are cumulative since start (a reader computes rates);
 * samples (lags, latencies) are summarised per interval and then cleared.
 */

export type Labels = Readonly<Record<string, string | number>>;

export interface SampleSummary {
  count: number;
  p50: number;
  p95: number;
  max: number;
}

export interface MetricsSnapshot {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  samples: Record<string, SampleSummary>;
}

const MAX_SAMPLES = 10_000;

export class Metrics {
  #counters = new Map<string, number>();
  #gauges = new Map<string, number>();
  #gaugeReaders = new Map<string, () => number | undefined>();
  #samples = new Map<string, number[]>();

  /** Adds to a cumulative counter, e.g. `count('webhook.events.received', 100, { source: 'hubspot' })`. */
  count(name: string, value = 1, labels?: Labels): void {
    const key = metricKey(name, labels);
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + value);
  }

  /** Sets a gauge to its current value. */
  gauge(name: string, value: number, labels?: Labels): void {
    this.#gauges.set(metricKey(name, labels), value);
  }

  /** Removes a gauge (a figure that no longer applies), so the next lines leave it out. */
  clearGauge(name: string, labels?: Labels): void {
    this.#gauges.delete(metricKey(name, labels));
  }

  /** Registers a gauge read at snapshot time (queue depths, budget remaining). */
  gaugeFn(name: string, read: () => number | undefined, labels?: Labels): void {
    this.#gaugeReaders.set(metricKey(name, labels), read);
  }

  /** Records one sample (a lag or a latency in ms); summarised as p50/p95/max per interval. */
  observe(name: string, value: number, labels?: Labels): void {
    const key = metricKey(name, labels);
    let values = this.#samples.get(key);
    if (!values) this.#samples.set(key, (values = []));
    if (values.length < MAX_SAMPLES) values.push(value);
    else values[Math.floor(Math.random() * MAX_SAMPLES)] = value; // keep a uniform-ish reservoir
  }

  /** Counters so far, gauges now, and the samples since the last snapshot (which are then cleared). */
  snapshot(): MetricsSnapshot {
    const current = this.peek();
    this.#samples.clear();
    return current;
  }

  /** The same figures without clearing the samples: for a scrape of `/metrics`, which must not take them from the log line. */
  peek(): MetricsSnapshot {
    const gauges = Object.fromEntries(this.#gauges);
    for (const [key, read] of this.#gaugeReaders) {
      const value = read();
      if (value !== undefined && Number.isFinite(value)) gauges[key] = value;
    }
    const samples: Record<string, SampleSummary> = {};
    for (const [key, values] of this.#samples) if (values.length > 0) samples[key] = summarise(values);
    return { counters: Object.fromEntries(this.#counters), gauges, samples };
  }

  counter(name: string, labels?: Labels): number {
    return this.#counters.get(metricKey(name, labels)) ?? 0;
  }

  /** A counter summed over all its label sets. */
  total(name: string): number {
    let sum = 0;
    for (const [key, value] of this.#counters) if (key === name || key.startsWith(`${name}{`)) sum += value;
    return sum;
  }
}

/** `name` with labels in a stable order: `webhook.events.received{source=hubspot}`. */
export function metricKey(name: string, labels?: Labels): string {
  if (!labels) return name;
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

export function summarise(values: readonly number[]): SampleSummary {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] ?? 0 };
}

/** Nearest-rank quantile of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}
