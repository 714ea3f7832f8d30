import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics/registry.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, hubspotEvent, paragonHeaders, PARAGON_SECRET, SECRET_A, signV1, signV3, testConfig, v1Headers } from './helpers.ts';

const BODY_LIMIT = 4096;
const testDb = useTestDb();
let app: ReturnType<typeof buildReceiver>;
let base: string;

beforeAll(async () => {
  app = buildReceiver({ db: testDb.db, log: captureLogger().log, metrics: new Metrics(), config: testConfig({ http: { bodyLimitBytes: BODY_LIMIT } }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app?.close();
});

async function post(path: string, body: Buffer | string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(`${base}${path}`, { method: 'POST', body, headers });
  await response.arrayBuffer();
  return response.status;
}

/** Bodies that are not a JSON array or object: random text and bytes, JSON scalars, truncated JSON. */
const notABatch = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    fc.jsonValue().filter((v) => v === null || typeof v !== 'object').map((v) => JSON.stringify(v)),
    fc.json().map((text) => text.slice(0, Math.max(0, text.length - 1))),
  )
  .filter((text) => {
    try {
      const value: unknown = JSON.parse(text);
      return value === null || typeof value !== 'object';
    } catch {
      return true;
    }
  });

const events = fc.array(
  fc.record({ objectId: fc.nat(), propertyValue: fc.string({ unit: 'binary', maxLength: 40 }), attemptNumber: fc.nat(9) }).map((fields) => hubspotEvent(fields)),
  { minLength: 1, maxLength: 5 },
);

/** A random 32-byte digest, encoded as a real signature would be. */
const digest = (encoding: 'hex' | 'base64') => fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString(encoding));

/** Headers that do not prove the body came from HubSpot. */
const forgedHeaders = (body: string) =>
  fc.oneof(
    fc.constant({}),
    digest('hex').map((sig) => ({ 'x-hubspot-signature-version': 'v1', 'x-hubspot-signature': sig })),
    fc.string({ maxLength: 80 }).map((sig) => ({ 'x-hubspot-signature-version': 'v1', 'x-hubspot-signature': sig || 'x' })),
    fc.constantFrom('v2', 'v0', 'V9', '').map((version) => ({ 'x-hubspot-signature-version': version || 'none', 'x-hubspot-signature': signV1(SECRET_A, body) })),
    fc.string({ minLength: 1, maxLength: 20 }).map((secret) => ({ 'x-hubspot-signature-version': 'v1', 'x-hubspot-signature': signV1(`${SECRET_A}${secret}`, body) })),
    fc.integer({ min: 301_000, max: 10_000_000 }).chain((skew) =>
      fc.constantFrom(-1, 1).map((sign) => {
        const ts = Date.now() + sign * skew;
        return { 'x-hubspot-signature-v3': signV3(SECRET_A, `${base}/webhooks/hubspot`, body, ts), 'x-hubspot-request-timestamp': String(ts) };
      }),
    ),
    digest('base64').map((sig) => ({ 'x-hubspot-signature-v3': sig, 'x-hubspot-request-timestamp': String(Date.now()) })),
    fc.constant({ 'x-hubspot-signature-v3': signV3(SECRET_A, `${base}/webhooks/other`, body, Date.now()), 'x-hubspot-request-timestamp': String(Date.now()) }),
  );

describe('random malformed, oversized and forged requests', () => {
  it('are refused with 4xx, store nothing, and leave the server healthy', async () => {
    await fc.assert(
      fc.asyncProperty(notABatch, async (text) => {
        const body = Buffer.from(text, 'utf8');
        if (body.length > BODY_LIMIT) return;
        expect(await post('/webhooks/hubspot', body, v1Headers(SECRET_A, text))).toBe(400);
        expect(await post('/webhooks/paragon', body, paragonHeaders(text))).toBe(400);
      }),
      { numRuns: 500 },
    );

    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: BODY_LIMIT + 1, maxLength: BODY_LIMIT * 3 }), fc.constantFrom('/webhooks/hubspot', '/webhooks/paragon'), async (bytes, path) => {
        expect(await post(path, Buffer.from(bytes), { 'content-type': 'application/json' })).toBe(413);
      }),
      { numRuns: 150 },
    );

    await fc.assert(
      fc.asyncProperty(
        events.chain((batch) => {
          const body = JSON.stringify(batch);
          return fc.tuple(fc.constant(body), forgedHeaders(body));
        }),
        async ([body, headers]) => {
          expect(await post('/webhooks/hubspot', body, { 'content-type': 'application/json', ...headers })).toBe(401);
        },
      ),
      { numRuns: 1000 },
    );

    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 100 }), fc.option(fc.string({ maxLength: 90 })), async (secret, header) => {
        const body = JSON.stringify({ eventId: 'e', payload: { id: '1', properties: { lastmodifieddate: '1' } } });
        const headers = header === null ? paragonHeaders(body, 'hex', `${PARAGON_SECRET}${secret}x`) : { 'content-type': 'application/json', 'x-paragon-signature': header };
        expect(await post('/webhooks/paragon', body, headers)).toBe(401);
      }),
      { numRuns: 300 },
    );

    await fc.assert(
      fc.asyncProperty(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream'), async (type) => {
        const body = JSON.stringify([hubspotEvent()]);
        expect(await post('/webhooks/hubspot', body, { ...v1Headers(SECRET_A, body), 'content-type': type })).toBe(415);
      }),
      { numRuns: 50 },
    );

    const counts = await sql<{ events: number; quarantined: number }>`
      select (select count(*) from webhook_events)::int as events, (select count(*) from webhook_quarantine)::int as quarantined`.execute(testDb.db);
    expect(counts.rows[0]).toEqual({ events: 0, quarantined: 0 });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const body = JSON.stringify([hubspotEvent()]);
    expect(await post('/webhooks/hubspot', body, v1Headers(SECRET_A, body))).toBe(200);
  });
});
