import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics/registry.ts';
import { createWebhookHandlers, type WebhookRequest } from '../../../src/webhooks/handlers.ts';
import type { ParsedBatch } from '../../../src/webhooks/inbox.ts';
import { captureLogger, hubspotEvent, SECRET_A, testConfig, v1Headers } from '../../integration/webhooks/helpers.ts';

/** The handlers without a server or a database: the store is a function the test sees. */
function handlers() {
  const stored: ParsedBatch[] = [];
  const capture = captureLogger();
  const metrics = new Metrics();
  const h = createWebhookHandlers(
    {
      db: undefined as never,
      log: capture.log,
      metrics,
      config: testConfig(),
      storeBatch: async (batch) => {
        stored.push(batch);
        return { ok: true, result: { inserted: batch.events.length, duplicates: 0, quarantined: batch.quarantined.length } };
      },
    },
    capture.log,
  );
  return { h, stored, metrics, lines: capture.lines };
}

function request(body: string, headers: Record<string, string>): WebhookRequest {
  return { method: 'POST', target: { url: '/webhooks/hubspot', headers: { host: 'localhost', ...headers }, encrypted: false }, body: Buffer.from(body), query: {} };
}

describe('webhook handlers, without HTTP', () => {
  it('store a signed batch and answer 200 with the counts', async () => {
    const { h, stored } = handlers();
    const body = JSON.stringify([hubspotEvent()]);
    const reply = await h.hubspot(request(body, v1Headers(SECRET_A, body)));
    expect(reply).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0, quarantined: 0 } });
    expect(stored).toHaveLength(1);
  });

  it('refuse a forged batch with 401 and store nothing', async () => {
    const { h, stored, metrics } = handlers();
    const body = JSON.stringify([hubspotEvent()]);
    const reply = await h.hubspot(request(body, v1Headers('not-the-secret', body)));
    expect(reply).toEqual({ status: 401, body: { error: 'unauthorized' } });
    expect(stored).toHaveLength(0);
    expect(metrics.counter('webhook.requests.rejected', { source: 'hubspot', status: 401 })).toBe(1);
  });
});
