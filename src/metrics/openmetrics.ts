/**
 * `GET /metrics`: the registry's figures in the OpenMetrics text format, written by prom-client.
 * Counters are totals since the process started; gauges are current; the latency and lag samples
 * of the current interval are gauges with a `quantile` label (0.5, 0.95, 1 for the maximum).
 * `webhook.events.received{source=hubspot}` becomes `hubsync_webhook_events_received_total{source="hubspot"}`.
 */
import { Counter, Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import type { MetricsSnapshot } from './registry.ts';

export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

interface Family {
  kind: 'counter' | 'gauge';
  labelNames: Set<string>;
  series: { labels: Record<string, string>; value: number }[];
}

export async function openMetricsText(snapshot: MetricsSnapshot, prefix = 'hubsync'): Promise<string> {
  const families = new Map<string, Family>();
  const add = (kind: Family['kind'], key: string, value: number, extra: Record<string, string> = {}, suffix = '') => {
    const { name, labels } = parseKey(key);
    const family = `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, '_')}${suffix}`;
    let entry = families.get(family);
    if (!entry) families.set(family, (entry = { kind, labelNames: new Set(), series: [] }));
    const all = { ...labels, ...extra };
    for (const label of Object.keys(all)) entry.labelNames.add(label);
    entry.series.push({ labels: all, value });
  };
  for (const [key, value] of Object.entries(snapshot.counters)) add('counter', key, value);
  for (const [key, value] of Object.entries(snapshot.gauges)) add('gauge', key, value);
  for (const [key, summary] of Object.entries(snapshot.samples)) {
    for (const [quantile, value] of [['0.5', summary.p50], ['0.95', summary.p95], ['1', summary.max]] as const) add('gauge', key, value, { quantile });
  }
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(OPENMETRICS_CONTENT_TYPE);
  for (const [name, family] of families) {
    const options = { name, help: `hubsync ${name.slice(prefix.length + 1)}`, labelNames: [...family.labelNames], registers: [registry] };
    if (family.kind === 'counter') {
      const counter = new Counter(options);
      for (const s of family.series) counter.inc(s.labels, s.value);
    } else {
      const gauge = new Gauge(options);
      for (const s of family.series) gauge.set(s.labels, s.value);
    }
  }
  return registry.metrics();
}

/** `name{a=1,b=x}` → the name and its labels (label names made safe for OpenMetrics). */
function parseKey(key: string): { name: string; labels: Record<string, string> } {
  const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
  const labels: Record<string, string> = {};
  for (const pair of match?.[2]?.split(',') ?? []) {
    const at = pair.indexOf('=');
    if (at > 0) labels[pair.slice(0, at).replace(/[^A-Za-z0-9_]/g, '_')] = pair.slice(at + 1);
  }
  return { name: match?.[1] ?? key, labels };
}
