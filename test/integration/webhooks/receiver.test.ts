import { beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { announceStoredEvents, INBOX_CHANNEL, quarantineReasons, webhookStatus } from '../../../src/webhooks/inbox-store.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import {
  captureLogger,
  hubspotEvent,
  paragonHeaders,
  PORTAL,
  SECRET_A,
  SECRET_B,
  signV2,
  testConfig,
  v1Headers,
  v3Headers,
} from './helpers.ts';

const testDb = useTestDb();
const NOW = 1_790_000_100_000;

beforeEach(async () => {
  await sql`truncate webhook_events, webhook_pending, webhook_quarantine`.execute(testDb.db);
});

function receiver(http: Record<string, unknown> = {}, readiness?: () => Promise<{ ok: boolean; reasons: string[] }>) {
  const capture = captureLogger();
  const metrics = new Metrics();
  const app = buildReceiver({ db: testDb.db, log: capture.log, metrics, config: testConfig({ http }), now: () => NOW, ...(readiness ? { readiness } : {}) });
  return { app, metrics, lines: capture.lines };
}

const events = () => testDb.db.selectFrom('webhook_events').selectAll().orderBy('id').execute();
const quarantine = () => testDb.db.selectFrom('webhook_quarantine').selectAll().orderBy('id').execute();

describe('Webhooks-API batches', () => {
  it('stores a v1-signed batch and answers after the commit', async () => {
    const { app, metrics } = receiver();
    const body = JSON.stringify([hubspotEvent(), hubspotEvent({ subscriptionType: 'contact.creation', objectId: 52 })]);
    const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ received: 2, stored: 2, duplicates: 0, quarantined: 0 });
    // Rows are inserted in key order (a fixed lock order), not arrival order.
    const rows = (await events()).sort((a, b) => a.object_id!.localeCompare(b.object_id!));
    expect(rows.map((r) => [r.source, r.subscription_type, r.object_type, r.object_id, r.portal_id, r.deliveries])).toEqual([
      ['hubspot', 'contact.propertyChange', 'contacts', '51', PORTAL, 1],
      ['hubspot', 'contact.creation', 'contacts', '52', PORTAL, 1],
    ]);
    expect(rows[0]!.occurred_at).toEqual(new Date(1_790_000_000_000));
    expect(rows[0]!.payload).toMatchObject({ propertyName: 'email', propertyValue: 'a@example.com' });
    expect(metrics.counter('webhook.events.received', { source: 'hubspot' })).toBe(2);
  });

  it('counts attempts 0, 1, 2 and a network duplicate of attempt 1 as one event with four deliveries', async () => {
    const { app, metrics } = receiver();
    const event = hubspotEvent();
    for (const attemptNumber of [1, 0, 2, 1]) {
      const body = JSON.stringify([{ ...event, attemptNumber }]);
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
      expect(response.statusCode).toBe(200);
    }
    const rows = await events();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ deliveries: 4, first_attempt: 0, last_attempt: 2 });
    expect(metrics.counter('webhook.events.duplicate', { source: 'hubspot' })).toBe(3);
  });

  it('folds copies inside one request and keeps two events that share an eventId', async () => {
    const { app } = receiver();
    const a = hubspotEvent();
    const b = hubspotEvent({ eventId: a.eventId, objectId: 99, occurredAt: 1_790_000_000_500 });
    const body = JSON.stringify([a, { ...a, attemptNumber: 3 }, b]);
    const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
    expect(response.json()).toMatchObject({ received: 3, stored: 2, duplicates: 1 });
    const rows = (await events()).sort((x, y) => x.object_id!.localeCompare(y.object_id!));
    expect(rows.map((r) => [r.event_id, r.object_id, r.deliveries, r.first_attempt, r.last_attempt])).toEqual([
      [String(a.eventId), '51', 2, 0, 3],
      [String(a.eventId), '99', 1, 0, 0],
    ]);
  });

  it('quarantines invalid events and keeps the valid ones of the batch', async () => {
    const { app, metrics } = receiver();
    const body = JSON.stringify([hubspotEvent(), { ...hubspotEvent(), propertyName: undefined }, 'junk', hubspotEvent({ subscriptionType: 'conversation.creation' })]);
    const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ received: 1, stored: 1, quarantined: 3 });
    const rows = await quarantine();
    expect(rows.map((r) => r.reason).sort()).toEqual(['event is not a JSON object', 'propertyChange without propertyName', 'unsupported subscription type "conversation.creation"']);
    expect(rows.find((r) => r.raw === 'junk')).toBeDefined();
    // The same bad event again is counted, not stored twice.
    await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
    expect((await quarantine()).map((r) => r.deliveries)).toEqual([2, 2, 2]);
    expect((await quarantineReasons(testDb.db)).map((r) => [r.source, r.reason, r.events, r.deliveries]).sort()).toEqual([
      ['hubspot', 'event is not a JSON object', 1, 2],
      ['hubspot', 'propertyChange without propertyName', 1, 2],
      ['hubspot', 'unsupported subscription type "conversation.creation"', 1, 2],
    ]);
    expect(await webhookStatus(testDb.db)).toMatchObject({ quarantined: 3, quarantinedDeliveries: 6 });
    expect(metrics.counter('webhook.events.quarantined', { source: 'hubspot' })).toBe(6);
  });

  it('quarantines an event nested 20,000 levels deep as text, with its reason, and stores the rest of the batch', async () => {
    const { app } = receiver();
    const deep = `{"eventId":7,"nested":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
    const body = `[${JSON.stringify(hubspotEvent())},${deep},${JSON.stringify(hubspotEvent({ objectId: 52 }))}]`;
    const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ received: 2, stored: 2, quarantined: 1 });
    const [row] = await quarantine();
    expect(row!.reason).toBe('nested deeper than 64 levels; raw kept as text');
    expect(row!.raw).toBe(deep);
    expect((await events()).map((r) => r.object_id).sort()).toEqual(['51', '52']);
  });

  it('answers 200 to an array nested 50,000 levels deep, quarantined, and to deep workflow and Paragon posts', async () => {
    const { app } = receiver();
    const array = `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`;
    const workflow = `{"hs_object_id":"1",${'"x":{'.repeat(30_000)}${'}'.repeat(30_000)}}`;
    const paragon = `{"event":"x","data":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    const hubspot = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, array), payload: array });
    expect(hubspot.statusCode).toBe(200);
    expect(hubspot.json()).toMatchObject({ received: 0, quarantined: 1 });
    const post = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, workflow), payload: workflow });
    expect(post.statusCode).toBe(200);
    const fromParagon = await app.inject({ method: 'POST', url: '/webhooks/paragon', headers: paragonHeaders(paragon), payload: paragon });
    expect(fromParagon.statusCode).toBe(200);
    expect((await quarantine()).map((r) => [r.source, r.reason, typeof r.raw]).sort()).toEqual([
      ['hubspot', 'nested deeper than 64 levels; raw kept as text', 'string'],
      ['paragon', 'nested deeper than 64 levels; raw kept as text', 'string'],
      ['workflow', 'nested deeper than 64 levels; raw kept as text', 'string'],
    ]);
  });

  it('stores non-ASCII and emoji bodies byte for byte, signed with either app', async () => {
    const { app } = receiver();
    const value = 'Zoë Ångström 🚀 日本語 \u00e4';
    const raw = JSON.stringify([hubspotEvent({ propertyValue: value })]).replace('\u00e4', '\\u00e4');
    for (const secret of [SECRET_A, SECRET_B]) {
      const body = secret === SECRET_A ? raw : JSON.stringify([hubspotEvent({ propertyValue: value })]);
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(secret, body), payload: Buffer.from(body, 'utf8') });
      expect(response.statusCode).toBe(200);
    }
    expect((await events()).map((r) => (r.payload as { propertyValue: string }).propertyValue)).toEqual([value, value]);
  });

  it('refuses forged requests with a bare 401, stores nothing, and logs the cause without secrets', async () => {
    const { app, lines, metrics } = receiver();
    const body = JSON.stringify([hubspotEvent()]);
    const forged = [
      { ...v1Headers('wrong-secret', body) },
      { ...v1Headers(SECRET_A, body), 'x-hubspot-signature-version': 'v2' },
      { 'content-type': 'application/json' },
      v3Headers(SECRET_A, 'http://localhost:80/webhooks/hubspot', body, NOW - 301_000),
      v3Headers(SECRET_A, 'http://localhost:80/webhooks/hubspot', body, NOW + 301_000),
    ];
    for (const headers of forged) {
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers, payload: body });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ error: 'unauthorized' });
    }
    expect(await events()).toEqual([]);
    expect(metrics.counter('webhook.requests.rejected', { source: 'hubspot', status: 401 })).toBe(5);
    const refusals = lines().filter((l) => l.msg === 'webhook signature refused');
    expect(refusals.map((l) => l.check)).toEqual(['mismatch', 'mismatch', 'missing', 'timestamp', 'timestamp']);
    expect(JSON.stringify(lines())).not.toContain(SECRET_A);
  });

  it('answers 400 for garbage, 413 for too large, 415 for other content types, and stores nothing', async () => {
    const { app } = receiver({ bodyLimitBytes: 2048 });
    for (const body of ['not json', '42', '{"a":', '']) {
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
      expect(response.statusCode).toBe(400);
    }
    const big = JSON.stringify([hubspotEvent({ propertyValue: 'x'.repeat(4096) })]);
    expect((await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, big), payload: big })).statusCode).toBe(413);
    const body = JSON.stringify([hubspotEvent()]);
    const text = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: { ...v1Headers(SECRET_A, body), 'content-type': 'text/plain' }, payload: body });
    expect(text.statusCode).toBe(415);
    expect(await events()).toEqual([]);
    expect(await quarantine()).toEqual([]);
  });
});

describe("the receiver's load", () => {
  it('is told to the workers with each announcement of new events: the share of the last second it had a request in hand', async () => {
    // Every reading of the clock moves it on 100 ms, so nearly all of the time passes inside requests.
    let t = NOW;
    const app = buildReceiver({ db: testDb.db, log: captureLogger().log, metrics: new Metrics(), config: testConfig(), now: () => (t += 100) });
    const payloads: string[] = [];
    const unlisten = await testDb.listen(INBOX_CHANNEL, (payload) => payloads.push(payload));
    try {
      for (let objectId = 1; objectId <= 12; objectId += 1) {
        const body = JSON.stringify([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
        expect((await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body })).statusCode).toBe(200);
        await announceStoredEvents(testDb.db); // the request's own announcement has been sent (calls coalesce into it)
      }
      const reported = payloads.map((payload) => /^busy=(\d\.\d\d)$/.exec(payload)?.[1]).filter((busy) => busy !== undefined).map(Number);
      expect(reported.length).toBeGreaterThan(0);
      expect(Math.max(...reported)).toBeGreaterThanOrEqual(0.5);
    } finally {
      await unlisten();
    }
  });
});

describe('v2/v3 URIs', () => {
  const post = JSON.stringify({ hs_object_id: '51', email: 'zoë@example.com', firstname: 'Zoë 🎉', lastmodifieddate: '2026-09-21T10:00:00.000Z' });
  const path = '/webhooks/hubspot?portalId=62515&objectType=contacts&tag=caf%C3%A9%20bar&z=1&a=2';

  it('verifies a workflow post against http.publicUrl behind a TLS-terminating proxy', async () => {
    const { app } = receiver({ publicUrl: 'https://hooks.example.com' });
    const uri = `https://hooks.example.com${path}`;
    const headers = { 'content-type': 'application/json', host: '10.1.2.3:3000', 'x-hubspot-signature-version': 'v2', 'x-hubspot-signature': signV2(SECRET_B, uri, post) };
    const response = await app.inject({ method: 'POST', url: path, headers, payload: post });
    expect(response.statusCode).toBe(200);
    const rows = await events();
    expect(rows[0]).toMatchObject({ source: 'workflow', portal_id: PORTAL, object_type: 'contacts', object_id: '51', subscription_type: 'workflow.snapshot' });
    // The same post again is a duplicate; a changed one is a new event.
    await app.inject({ method: 'POST', url: path, headers, payload: post });
    expect((await events()).map((r) => r.deliveries)).toEqual([2]);
  });

  it('verifies v3 with trusted forwarded headers and the escape-decoding table', async () => {
    const { app } = receiver({ trustProxy: true });
    const plain = '/webhooks/hubspot?portalId=62515&objectType=contacts&email=a%40b.com&q=%28x%29%2C%20y';
    const plainDecoded = "https://hooks.example.com/webhooks/hubspot?portalId=62515&objectType=contacts&email=a@b.com&q=(x),%20y";
    const response = await app.inject({
      method: 'POST',
      url: plain,
      headers: { ...v3Headers(SECRET_A, plainDecoded, post, NOW - 1000), host: 'internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hooks.example.com' },
      payload: post,
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses forwarded headers when the proxy is not trusted, and says the URL is the problem', async () => {
    const { app, lines } = receiver();
    const uri = `https://hooks.example.com${path}`;
    const response = await app.inject({
      method: 'POST',
      url: path,
      headers: { ...v3Headers(SECRET_A, uri, post, NOW), host: 'internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hooks.example.com' },
      payload: post,
    });
    expect(response.statusCode).toBe(401);
    const refusal = lines().find((l) => l.msg === 'webhook signature refused')!;
    expect(refusal.cause).toMatch(/signed for https:\/\/hooks\.example\.com.*http\.publicUrl/);
  });

  it('signs the path exactly as sent when it carries escapes outside the v3 table', async () => {
    const { app } = receiver({ publicUrl: 'https://hooks.example.com' });
    const sent = '/webhooks/hub%73pot?portalId=62515&objectType=contacts&x=%E2%9C%93%3A';
    const signedUri = 'https://hooks.example.com/webhooks/hub%73pot?portalId=62515&objectType=contacts&x=%E2%9C%93:';
    const response = await app.inject({ method: 'POST', url: sent, headers: v3Headers(SECRET_B, signedUri, post, NOW), payload: post });
    expect(response.statusCode).toBe(200);
    const decodedPath = 'https://hooks.example.com/webhooks/hubspot?portalId=62515&objectType=contacts&x=%E2%9C%93:';
    expect((await app.inject({ method: 'POST', url: sent, headers: v3Headers(SECRET_B, decodedPath, post, NOW), payload: post })).statusCode).toBe(401);
  });

  it('keeps the query string in its original order', async () => {
    const { app } = receiver({ publicUrl: 'https://hooks.example.com' });
    const reordered = `https://hooks.example.com/webhooks/hubspot?a=2&z=1&portalId=62515&objectType=contacts&tag=caf%C3%A9%20bar`;
    const headers = { 'content-type': 'application/json', 'x-hubspot-signature-version': 'v2', 'x-hubspot-signature': signV2(SECRET_A, reordered, post) };
    expect((await app.inject({ method: 'POST', url: path, headers, payload: post })).statusCode).toBe(401);
  });
});

describe('Paragon', () => {
  const event = (eventId: string) =>
    JSON.stringify({
      eventId,
      userId: 'user-1',
      integration: 'hubspot',
      triggerType: 'HUBSPOT_RECORD_CREATED',
      payload: { id: '77', properties: { email: 'ü@example.com', lastmodifieddate: '2026-09-21T10:00:00.000Z' } },
      triggerSubscriptionMetadata: { portalId: PORTAL },
    });

  it('accepts hex and base64 MACs, deduplicates on eventId, refuses forgeries', async () => {
    const { app } = receiver();
    const body = event('5a1f9c1e-0000-4000-8000-000000000001');
    for (const encoding of ['hex', 'base64'] as const) {
      const response = await app.inject({ method: 'POST', url: '/webhooks/paragon', headers: paragonHeaders(body, encoding), payload: body });
      expect(response.statusCode).toBe(200);
    }
    const forged = await app.inject({ method: 'POST', url: '/webhooks/paragon', headers: paragonHeaders(body, 'hex', 'nope'), payload: body });
    expect(forged.statusCode).toBe(401);
    const rows = await events();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: 'paragon', event_id: '5a1f9c1e-0000-4000-8000-000000000001', deliveries: 2, object_type: 'contacts', object_id: '77' });
  });
});

describe('health', () => {
  it('healthz is up; readyz checks the database and the injected freshness check', async () => {
    let fresh = true;
    const { app } = receiver({}, async () => ({ ok: fresh, reasons: fresh ? [] : ['contacts poll is 900 s old'] }));
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ ok: true, reasons: [] });
    fresh = false;
    const stale = await app.inject({ method: 'GET', url: '/readyz' });
    expect(stale.statusCode).toBe(503);
    expect(stale.json()).toEqual({ ok: false, reasons: ['contacts poll is 900 s old'] });
  });
});
