import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics/registry.ts';
import { createOpsServer } from '../../../src/metrics/server.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, hubspotEvent, SECRET_A, testConfig, v1Headers } from '../webhooks/helpers.ts';

const testDb = useTestDb();

function receiver(token: string) {
  const metrics = new Metrics();
  const config = { ...testConfig(), metrics: { ...testConfig().metrics, token } };
  return { app: buildReceiver({ db: testDb.db, log: captureLogger().log, metrics, config }), metrics };
}

describe('GET /metrics', () => {
  it('is not served on the public receiver without a token', async () => {
    const { app } = receiver('');
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('answers OpenMetrics text to the configured bearer token only, and leaves the samples to the log line', async () => {
    const { app, metrics } = receiver('scrape-token-123');
    const body = JSON.stringify([hubspotEvent()]);
    expect((await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong-token-1234' } })).statusCode).toBe(401);
    const scrape = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-token-123' } });
    expect(scrape.statusCode).toBe(200);
    expect(scrape.headers['content-type']).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(scrape.body).toContain('# TYPE hubsync_webhook_events_received counter');
    expect(scrape.body).toContain('hubsync_webhook_events_received_total{source="hubspot"} 1');
    expect(scrape.body).toMatch(/hubsync_webhook_ack_ms\{source="hubspot",quantile="0\.5"\} \d/);
    expect(scrape.body.trimEnd().endsWith('# EOF')).toBe(true);
    expect(Object.keys(metrics.snapshot().samples)).toContain('webhook.ack_ms{source=hubspot}');
  });

  it('and /healthz and /readyz are served on the operations port, for workers too', async () => {
    const metrics = new Metrics();
    metrics.gauge('webhook.backlog', 4);
    let ready = true;
    const server = createOpsServer({ metrics, log: captureLogger().log, host: '127.0.0.1', port: 0, readiness: async () => ({ ok: ready, reasons: ready ? [] : ['no heartbeat written for 31 s'] }) });
    await server.start();
    try {
      const base = server.address()!;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      ready = false;
      const notReady = await fetch(`${base}/readyz`);
      expect([notReady.status, await notReady.json()]).toEqual([503, { ok: false, reasons: ['no heartbeat written for 31 s'] }]);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('hubsync_webhook_backlog 4');
    } finally {
      await server.stop();
    }
  });
});
