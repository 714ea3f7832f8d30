import { createHash, createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import type { Database } from '../../../src/db/schema.ts';
import { createLogger, type Logger } from '../../../src/log.ts';
import { parseHubSpotBatch } from '../../../src/webhooks/hubspot-events.ts';
import { foldDuplicates } from '../../../src/webhooks/inbox.ts';
import { storeWebhookBatch } from '../../../src/webhooks/inbox-store.ts';

export const SECRET_A = 'aaaaaaaa-1111-2222-3333-444444444444';
export const SECRET_B = 'bbbbbbbb-1111-2222-3333-444444444444';
export const PARAGON_SECRET = 'paragon-webhook-secret-for-tests';
export const PORTAL = 62515;

/** A validated config with the receiver's sections filled in for tests. */
export function testConfig(overrides: { http?: Record<string, unknown>; webhooks?: Record<string, unknown>; database?: Record<string, unknown> } = {}): Config {
  return configSchema.parse({
    http: { port: 0, host: '127.0.0.1', ...overrides.http },
    webhooks: overrides.webhooks ?? {},
    hubspot: {
      apps: [
        { appId: 1001, clientSecret: SECRET_A },
        { appId: 1002, clientSecret: SECRET_B },
      ],
      accounts: [{ portalId: PORTAL, accessToken: 'pat-na1-00000000-0000-0000-0000-000000000000' }],
    },
    paragon: { projectId: 'project-1', signingKey: 'unused-in-these-tests', webhookSecret: PARAGON_SECRET },
    ...(overrides.database ? { database: overrides.database } : {}),
  });
}

/** A logger whose lines the test can read. */
export function captureLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  const log = createLogger({ destination, level: 'debug', secrets: [SECRET_A, SECRET_B, PARAGON_SECRET] });
  return { log, lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

export function signV1(secret: string, body: string): string {
  return createHash('sha256').update(secret + body, 'utf8').digest('hex');
}

export function signV2(secret: string, uri: string, body: string, method = 'POST'): string {
  return createHash('sha256').update(secret + method + uri + body, 'utf8').digest('hex');
}

/** v3 over the URI HubSpot hashes (the caller passes it already decoded, as HubSpot does). */
export function signV3(secret: string, uri: string, body: string, timestamp: number, method = 'POST'): string {
  return createHmac('sha256', secret).update(method + uri + body + String(timestamp), 'utf8').digest('base64');
}

export function v1Headers(secret: string, body: string): Record<string, string> {
  return { 'content-type': 'application/json', 'x-hubspot-signature-version': 'v1', 'x-hubspot-signature': signV1(secret, body) };
}

export function v3Headers(secret: string, uri: string, body: string, timestamp: number): Record<string, string> {
  return { 'content-type': 'application/json', 'x-hubspot-signature-v3': signV3(secret, uri, body, timestamp), 'x-hubspot-request-timestamp': String(timestamp) };
}

export function paragonHeaders(body: string, encoding: 'hex' | 'base64' = 'hex', secret = PARAGON_SECRET): Record<string, string> {
  return { 'content-type': 'application/json', 'x-paragon-signature': `v1=${createHmac('sha256', secret).update(body, 'utf8').digest(encoding)}` };
}

let nextEventId = 1;

/** A Webhooks-API event with sensible defaults. */
export function hubspotEvent(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: nextEventId++,
    subscriptionId: 7001,
    portalId: PORTAL,
    appId: 1001,
    occurredAt: 1_790_000_000_000,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId: 51,
    changeSource: 'CRM',
    propertyName: 'email',
    propertyValue: 'a@example.com',
    ...fields,
  };
}

/** Stores HubSpot webhook events in the inbox as the receiver does (parsed, duplicates folded), received at `at`, announcing its `load` if given. */
export async function storeHubSpotEvents(db: Kysely<Database>, events: unknown[], at: Date, load?: () => number): Promise<void> {
  await storeWebhookBatch(db, foldDuplicates(parseHubSpotBatch(events)).batch, at, load);
}

/** Waits until `check` returns a truthy value (no fixed sleeps in assertions). */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
