/**
 * Webhook ingestion: events/s and acknowledgement latency (p50/p99) for signed (v1 + v3)
 * 100-event batches posted over HTTP at concurrency 10, as HubSpot delivers them, beside two
 * ceilings measured in the same run:
 * - HTTP ceiling: the same receiver (verify, parse, validate) answering 200 without storing;
 * - store ceiling: the same rows inserted directly (`storeWebhookBatch`, concurrency 10, no HTTP).
 * Target: ingestion ≥ 0.5 × the lower ceiling, p99 < 100 ms.
 *
 * `npm run bench webhooks`, or standalone: `node test/bench/webhooks.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { configSchema } from '../../src/config/schema.ts';
import { openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { storeWebhookBatch } from '../../src/webhooks/inbox-store.ts';
import { createLogger } from '../../src/log.ts';
import { quantile } from '../../src/metrics/registry.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { parseHubSpotBatch } from '../../src/webhooks/hubspot-events.ts';
import { foldDuplicates } from '../../src/webhooks/inbox.ts';
import { buildReceiver } from '../../src/webhooks/receiver.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const BATCH = 100;
const CONCURRENCY = 10;
const SECRET = 'bench-client-secret-0000-000000000000';
const PORTAL = 62515;
const PROPERTIES = ['email', 'firstname', 'lastname', 'phone', 'lifecyclestage'];

export interface WebhookBenchOptions {
  databaseUrl?: string;
  /** Timed requests per mode. */
  requests?: number;
}

let nextEventId = 1;

/** One Webhooks-API batch of distinct property-change events, as HubSpot serialises it. */
function batchBody(): string {
  const occurredAt = Date.now();
  return JSON.stringify(
    Array.from({ length: BATCH }, (_, i) => {
      const eventId = nextEventId++;
      const propertyName = PROPERTIES[i % PROPERTIES.length]!;
      return {
        eventId,
        subscriptionId: 7000 + (i % PROPERTIES.length),
        portalId: PORTAL,
        appId: 1001,
        occurredAt: occurredAt - (i % 50),
        subscriptionType: 'contact.propertyChange',
        attemptNumber: 0,
        objectId: 100_000 + (eventId % 20_000),
        propertyName,
        propertyValue: `${propertyName}-${eventId}-Zoë`,
        changeSource: 'CRM',
        sourceId: 'userId:1',
      };
    }),
  );
}

interface Request {
  body: Buffer;
  headers: Record<string, string>;
}

function signed(uri: string, body: string): Request {
  const timestamp = String(Date.now());
  return {
    body: Buffer.from(body, 'utf8'),
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-version': 'v1',
      'x-hubspot-signature': createHash('sha256').update(SECRET + body, 'utf8').digest('hex'),
      'x-hubspot-signature-v3': createHmac('sha256', SECRET).update(`POST${uri}${body}${timestamp}`, 'utf8').digest('base64'),
      'x-hubspot-request-timestamp': timestamp,
    },
  };
}

interface Run {
  eventsPerSecond: number;
  p50: number;
  p99: number;
}

/** Runs `work` over `items` with `CONCURRENCY` in flight; returns throughput and per-item latency. */
async function drive<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        const t0 = performance.now();
        await work(item);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { eventsPerSecond: (items.length * BATCH * 1000) / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

function post(agent: http.Agent, port: number, request: Request): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/webhooks/hubspot', method: 'POST', agent, headers: { ...request.headers, 'content-length': String(request.body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`receiver answered ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}

/** Runs the benchmark and returns the lines to print. */
export async function run(options: WebhookBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  const url = adminUrl ? await createServerDatabase(adminUrl) : '';
  const handle = await openDatabase(testDatabaseConfig(url));
  const requests = options.requests ?? (url ? 400 : 150);
  const warmup = 30;
  const config = configSchema.parse({ hubspot: { apps: [{ appId: 1001, clientSecret: SECRET }] }, http: { bodyLimitBytes: 1_048_576 } });
  const log = createLogger({ level: 'warn', pretty: 'never' });
  const servers: ReturnType<typeof buildReceiver>[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const { db } = handle;
    await migrateToLatest(db);
    const storing = buildReceiver({ db, log, metrics: new Metrics(), config });
    const notStoring = buildReceiver({
      db,
      log,
      metrics: new Metrics(),
      config,
      storeBatch: async (batch) => ({ ok: true, result: { inserted: batch.events.length, duplicates: 0, quarantined: 0 } }),
    });
    servers.push(storing, notStoring);
    const ports: number[] = [];
    for (const server of servers) {
      await server.listen({ host: '127.0.0.1', port: 0 });
      ports.push((server.server.address() as AddressInfo).port);
    }
    const [storePort, nullPort] = ports as [number, number];
    const requestsFor = (port: number, n: number) => Array.from({ length: n }, () => signed(`http://127.0.0.1:${port}/webhooks/hubspot`, batchBody()));

    // Warm every path (JIT, connections, plan caches), then alternate measured rounds so drift hits all alike.
    await drive(requestsFor(storePort, warmup), (r) => post(agent, storePort, r));
    await drive(requestsFor(nullPort, warmup), (r) => post(agent, nullPort, r));
    const direct = () => Array.from({ length: requests }, () => foldDuplicates(parseHubSpotBatch(JSON.parse(batchBody()) as unknown[])).batch);
    await drive(direct().slice(0, warmup), async (batch) => void (await storeWebhookBatch(db, batch, new Date())));

    const ingest = await drive(requestsFor(storePort, requests), (r) => post(agent, storePort, r));
    const httpCeiling = await drive(requestsFor(nullPort, requests), (r) => post(agent, nullPort, r));
    const storeCeiling = await drive(direct(), async (batch) => void (await storeWebhookBatch(db, batch, new Date())));

    const lower = Math.min(httpCeiling.eventsPerSecond, storeCeiling.eventsPerSecond);
    const ratio = ingest.eventsPerSecond / lower;
    const fmt = (r: Run) => `${r.eventsPerSecond.toFixed(0)} events/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`;
    return [
      `database: ${url ? 'postgres' : 'embedded PGlite'}; ${requests} signed (v1+v3) batches of ${BATCH} events per mode, concurrency ${CONCURRENCY}; ` +
        `load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores (client, server and database share them)`,
      `ingestion (verify, validate, store, ack): ${fmt(ingest)}`,
      `ceiling, same receiver answering 200 without storing: ${fmt(httpCeiling)}`,
      `ceiling, same rows inserted directly: ${fmt(storeCeiling)} (per batch)`,
      `ratio to the lower ceiling: ${ratio.toFixed(2)} (target ≥ 0.5); p99 ${ingest.p99.toFixed(1)} ms (target < 100 ms)`,
    ];
  } finally {
    agent.destroy();
    for (const server of servers) await server.close();
    await handle.close();
    if (url) await dropServerDatabase(adminUrl, url);
  }
}


if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await run()) console.log(line);
}
