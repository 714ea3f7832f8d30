import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finished, startCli, waitForOutput } from '../../helpers/cli.ts';
import { createServerDatabase, dropServerDatabase, seededEmbeddedDir, serverUrl } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-metrics');
let databaseUrl: string | undefined;
afterAll(async () => {
  if (databaseUrl) await dropServerDatabase(serverUrl!, databaseUrl);
});

interface MetricsLine {
  counts: Record<string, number>;
  totals: Record<string, number>;
  gauges: Record<string, number>;
  samples: Record<string, { count: number; p50: number; p95: number; max: number }>;
}

function metricsLines(stdout: string): MetricsLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.includes('"msg":"metrics"'))
    .map((line) => (JSON.parse(line) as { metrics: MetricsLine }).metrics);
}

describe('the metrics log stream of a running daemon', () => {
  it('carries inbox, polling, budget, cursor, outbox and coverage figures with plausible values', async () => {
    databaseUrl = serverUrl ? await createServerDatabase(serverUrl) : undefined;
    if (databaseUrl) {
      // A server database is migrated by the release phase, as in production.
      const migrate = await finished(startCli(['migrate', '--config', writeConfig(databaseUrl)]));
      expect(migrate.code).toBe(0);
    }
    const child = startCli(['run', '--config', writeConfig(databaseUrl ?? '')]);
    try {
      // Wait for a line written after the first poll and the first webhooks were handled.
      await waitForOutput(child, /"msg":"metrics".*polling\.records\{job=contacts\}":[1-9].*webhook\.events\.received/s, 90_000);
      // The inbox's first events are being applied (a line can come before the processor's first batch).
      await waitForOutput(child, /"webhook\.events\.processed":[1-9].*"msg":"metrics"/, 60_000);
      await waitForOutput(child, /"webhook\.coverage\{objectType=contacts,portalId=62515\}"/, 60_000);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await finished(child);
    expect(result.code).toBe(0);
    const lines = metricsLines(result.stdout);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const last = lines.at(-1)!;
    const everything = lines.reduce<MetricsLine>(
      (acc, line) => ({
        counts: acc.counts,
        totals: line.totals,
        gauges: { ...acc.gauges, ...line.gauges },
        samples: { ...acc.samples, ...line.samples },
      }),
      { counts: {}, totals: {}, gauges: {}, samples: {} },
    );
    const totals = last.totals;
    expect(totals['webhook.events.received{source=hubspot}']).toBeGreaterThan(0);
    expect(totals['webhook.events.processed']).toBeGreaterThan(0);
    expect(totals['polling.records{job=contacts}']).toBeGreaterThanOrEqual(200);
    // The first poll lists (ordinary calls); its search may not have gone out yet when the daemon is stopped.
    expect(totals['hubspot.api.calls{kind=api,portalId=62515}']).toBeGreaterThan(0);
    // Counter increases per line add up to the totals.
    const summed = lines.reduce((sum, line) => sum + (line.counts['webhook.events.received{source=hubspot}'] ?? 0), 0);
    expect(summed).toBe(totals['webhook.events.received{source=hubspot}']);

    const g = everything.gauges;
    expect(g['webhook.backlog']).toBeGreaterThanOrEqual(0);
    expect(g['outbox.pending']).toBe(0);
    expect(g['outbox.dead']).toBe(0);
    expect(g['outbox.oldest_pending_age_seconds']).toBe(0);
    expect(g['hubspot.budget.window_remaining{portalId=62515}']).toBeGreaterThan(0);
    expect(g['hubspot.budget.window_remaining{portalId=62515}']).toBeLessThanOrEqual(190);
    expect(g['polling.cursor_lag_seconds{job=contacts}']).toBeGreaterThanOrEqual(0);
    expect(g['polling.cursor_lag_seconds{job=contacts}']).toBeLessThan(600);
    const coverage = g['webhook.coverage{objectType=contacts,portalId=62515}']!;
    expect(coverage).toBeGreaterThanOrEqual(0);
    expect(coverage).toBeLessThanOrEqual(1);
    const lag = everything.samples['webhook.lag_ms{source=hubspot}']!;
    expect(lag.count).toBeGreaterThan(0);
    expect(lag.p50).toBeGreaterThanOrEqual(0);
    expect(lag.p50).toBeLessThan(60_000);
  });
});

function writeConfig(databaseUrl: string): string {
  const file = path.join(dir, `hubsync-${databaseUrl ? 'pg' : 'embedded'}.yaml`);
  writeFileSync(
    file,
    `sandbox: true
sandboxOptions: { streamIntervalMs: 100, initialChanges: 50 }
database: { url: "${databaseUrl}", embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }
http: { port: 0, host: 127.0.0.1 }
jobs:
  - { name: contacts, portalId: 62515, objectType: contacts, properties: [email, firstname, lastname, lifecyclestage, company], schedule: "*/2 * * * * *", lookbackSeconds: 5 }
metrics: { intervalSeconds: 1 }
log: { level: info, pretty: never }
`,
  );
  return file;
}
