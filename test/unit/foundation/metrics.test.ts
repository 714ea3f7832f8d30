import { describe, expect, it } from 'vitest';
import { formatL2met, metricsLine } from '../../../src/metrics/loop.ts';
import { Metrics, metricKey, quantile } from '../../../src/metrics/registry.ts';

describe('metrics', () => {
  it('reports counter increases per line, totals, gauges and sample summaries', () => {
    const metrics = new Metrics();
    metrics.count('webhook.events.received', 100, { source: 'hubspot' });
    metrics.gauge('outbox.pending', 3);
    metrics.gaugeFn('queue.depth', () => 7, { portal: 1 });
    for (let i = 1; i <= 100; i++) metrics.observe('webhook.lag_ms', i);
    const first = metricsLine(metrics.snapshot(), {});
    expect(first.counts['webhook.events.received{source=hubspot}']).toBe(100);
    expect(first.gauges).toEqual({ 'outbox.pending': 3, 'queue.depth{portal=1}': 7 });
    expect(first.samples['webhook.lag_ms']).toEqual({ count: 100, p50: 50, p95: 95, max: 100 });

    metrics.count('webhook.events.received', 20, { source: 'hubspot' });
    const second = metricsLine(metrics.snapshot(), first.totals);
    expect(second.counts['webhook.events.received{source=hubspot}']).toBe(20);
    expect(second.totals['webhook.events.received{source=hubspot}']).toBe(120);
    expect(second.samples).toEqual({});
  });

  it('formats l2met tokens with labels folded into names', () => {
    const text = formatL2met(
      {
        counts: { 'webhook.events.received{source=hubspot}': 5 },
        totals: {},
        gauges: { 'outbox.pending': 2 },
        samples: { 'webhook.lag_ms': { count: 1, p50: 12.345, p95: 40, max: 40 } },
      },
      'hubsync',
    );
    expect(text).toBe(
      'source=hubsync count#webhook.events.received.hubspot=5 sample#outbox.pending=2 measure#webhook.lag_ms.p50=12.35ms measure#webhook.lag_ms.p95=40ms',
    );
  });

  it('keys labels in a stable order and computes nearest-rank quantiles', () => {
    expect(metricKey('x', { b: 1, a: 'z' })).toBe('x{a=z,b=1}');
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([], 0.5)).toBe(0);
  });
});
