/**
 * The webhook receiver (`web` role): verify the signature on the raw bytes, validate, store the
 * batch durably in one statement, and only then answer 2xx. A refusal is 401 with no detail (the
 * log says which check failed and why); storage down or slow is 503 within the sender's 5 s budget.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ping } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { verifyHubSpot } from './hubspot-signature.ts';
import { logThrottle } from './log-throttle.ts';
import { foldDuplicates, type ParsedBatch, type WebhookSource } from './inbox.ts';
import { parseHubSpotRequest, parseParagonRequest, storeWithin, type ParsedRequest, type StoreOutcome } from './ingest.ts';
import { verifyParagon } from './paragon-signature.ts';
import { alternativeUris, publicUri, type RequestTarget } from './public-url.ts';

export type Readiness = () => Promise<{ ok: boolean; reasons: string[] }>;

export interface ReceiverDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics: Metrics;
  config: Pick<Config, 'http' | 'webhooks' | 'hubspot' | 'paragon' | 'jobs'>;
  /** Extra readiness (data freshness) the lead provides; the database check is built in. */
  readiness?: Readiness;
  /** Epoch ms; a parameter so tests can move the clock. */
  now?: () => number;
  /**
   * How a verified, parsed request is stored. Default: one statement into the inbox within
   * `webhooks.storeTimeoutMs`. The benchmark swaps in a no-op to measure the HTTP ceiling.
   */
  storeBatch?: (batch: ParsedBatch, receivedAt: Date) => Promise<StoreOutcome>;
}

/** The portal a record post belongs to when it does not say: the only one configured, if there is exactly one. */
export function defaultPortalId(config: Pick<Config, 'hubspot' | 'jobs'>): number | undefined {
  const portals = new Set([...config.hubspot.accounts.map((a) => a.portalId), ...config.jobs.map((j) => j.portalId)]);
  return portals.size === 1 ? [...portals][0] : undefined;
}

/** Builds the receiver's fastify app; the caller listens (or injects, in tests). */
export function buildReceiver(deps: ReceiverDeps): FastifyInstance {
  const { db, metrics, config } = deps;
  const log = deps.log.child({ module: 'webhooks' });
  const now = deps.now ?? Date.now;
  const bodyLimit = config.http.bodyLimitBytes;
  const maxAgeMs = config.webhooks.maxSignatureAgeSeconds * 1000;
  const portal = defaultPortalId(config);
  const urlOptions = { publicUrl: config.http.publicUrl, trustProxy: config.http.trustProxy };
  const throttle = logThrottle(10_000, now);
  const storeBatch = deps.storeBatch ?? ((batch: ParsedBatch, at: Date) => storeWithin(db, batch, at, config.webhooks.storeTimeoutMs));

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Per-request lines at webhook rates are noise; refusals and failures are logged where handled.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    // Senders give up after 5 s; a request still arriving after 15 s is a stuck or hostile client.
    requestTimeout: 15_000,
  });
  // On shutdown, in-flight requests finish; their keep-alive sockets close with the response
  // instead of idling until the keep-alive timeout and holding close() up.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // Keep the body as bytes: signatures are over exactly what was sent, never re-serialised JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) log.error({ err, url: request.url }, 'webhook request failed');
    else {
      const source = sourceOfPath(request.url);
      metrics.count('webhook.requests.rejected', 1, { source, status });
      throttle(`${status}:${source}:${err.code}`, (suppressed) => log.warn({ status, code: err.code, source, ...(suppressed ? { suppressed } : {}) }, 'webhook request refused'));
    }
    return reply.code(status).send({ error: status === 413 ? 'payload too large' : status === 415 ? 'unsupported media type' : status >= 500 ? 'internal error' : 'bad request' });
  });

  const store = async (reply: FastifyReply, source: WebhookSource, parsed: ParsedBatch, receivedAt: number) => {
    const { batch, folded } = foldDuplicates(parsed);
    const outcome = await storeBatch(batch, new Date(receivedAt));
    if (!outcome.ok) {
      metrics.count('webhook.requests.unavailable', 1, { source, reason: outcome.reason });
      log.error({ err: outcome.err, source, reason: outcome.reason, events: batch.events.length }, 'webhook batch not stored: answering 503 so the sender retries');
      return reply.code(503).header('retry-after', '5').send({ error: 'unavailable' });
    }
    const { inserted, duplicates } = outcome.result;
    const quarantined = parsed.quarantined.length;
    const received = parsed.events.length;
    metrics.count('webhook.events.received', received, { source });
    if (duplicates + folded > 0) metrics.count('webhook.events.duplicate', duplicates + folded, { source });
    if (quarantined > 0) {
      metrics.count('webhook.events.quarantined', quarantined, { source });
      log.warn({ source, quarantined, reasons: [...new Set(parsed.quarantined.map((q) => q.reason))].slice(0, 5) }, 'webhook events quarantined');
    }
    // Lag of first deliveries only: a retry's lag measures HubSpot's backoff, not the pipeline.
    for (const event of batch.events) {
      if (event.occurredAt !== null && (event.firstAttempt ?? 0) === 0) metrics.observe('webhook.lag_ms', receivedAt - event.occurredAt, { source });
    }
    metrics.observe('webhook.ack_ms', now() - receivedAt, { source });
    return reply.code(200).send({ received, stored: inserted, duplicates: duplicates + folded, quarantined });
  };

  const refuse = (reply: FastifyReply, source: WebhookSource, fields: { check: string; cause: string } & Record<string, unknown>) => {
    metrics.count('webhook.requests.rejected', 1, { source, status: 401 });
    throttle(`401:${source}:${fields.check}:${fields.cause}`, (suppressed) => log.warn({ ...fields, ...(suppressed ? { suppressed } : {}) }, 'webhook signature refused'));
    return reply.code(401).send({ error: 'unauthorized' });
  };

  const malformed = (reply: FastifyReply, source: string, parsed: Extract<ParsedRequest, { ok: false }>) => {
    metrics.count('webhook.requests.rejected', 1, { source, status: 400 });
    throttle(`400:${source}:${parsed.reason}`, (suppressed) => log.warn({ source, reason: parsed.reason, ...(suppressed ? { suppressed } : {}) }, 'webhook request malformed'));
    return reply.code(400).send({ error: 'bad request' });
  };

  app.post('/webhooks/hubspot', async (request, reply) => {
    const started = now();
    const body = bodyOf(request);
    const target = targetOf(request);
    const uri = publicUri(target, urlOptions);
    const verdict = verifyHubSpot(
      { method: request.method, uri, body, headers: request.headers },
      { apps: config.hubspot.apps, now: started, maxAgeMs, alternativeUris: () => alternativeUris(target, urlOptions) },
    );
    if (!verdict.ok) return refuse(reply, 'hubspot', { source: 'hubspot', version: verdict.version, check: verdict.check, cause: verdict.cause, uri: stripQuery(uri) });
    const query = request.query as Record<string, string | string[] | undefined>;
    const parsed = parseHubSpotRequest(body, { portalId: single(query.portalId), objectType: single(query.objectType), defaultPortalId: portal });
    if (!parsed.ok) return malformed(reply, 'hubspot', parsed);
    return store(reply, parsed.source, parsed.batch, started);
  });

  app.post('/webhooks/paragon', async (request, reply) => {
    const started = now();
    const body = bodyOf(request);
    const signature = request.headers['x-paragon-signature'];
    const verdict = verifyParagon(Array.isArray(signature) ? signature.join(',') : signature, body, config.paragon?.webhookSecret ?? '');
    if (!verdict.ok) return refuse(reply, 'paragon', { source: 'paragon', check: verdict.check, cause: verdict.cause });
    const query = request.query as Record<string, string | string[] | undefined>;
    const parsed = parseParagonRequest(body, { portalId: single(query.portalId), objectType: single(query.objectType), defaultPortalId: portal });
    if (!parsed.ok) return malformed(reply, 'paragon', parsed);
    return store(reply, 'paragon', parsed.batch, started);
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const reasons: string[] = [];
    const database = await Promise.race([
      ping(db).then(() => null, (err: unknown) => `database unreachable: ${(err as Error).message ?? String(err)}`),
      new Promise<string>((resolve) => setTimeout(resolve, 2000, 'database did not answer within 2 s').unref()),
    ]);
    if (database) reasons.push(database);
    if (deps.readiness) {
      try {
        const extra = await deps.readiness();
        if (!extra.ok) reasons.push(...extra.reasons);
      } catch (err) {
        reasons.push(`readiness check failed: ${(err as Error).message ?? String(err)}`);
      }
    }
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ok: reasons.length === 0, reasons });
  });

  return app;
}

function bodyOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

function targetOf(request: FastifyRequest): RequestTarget {
  // `raw.url` is the request target exactly as sent: path and query, escapes and order untouched.
  return { url: request.raw.url ?? request.url, headers: request.headers, encrypted: 'encrypted' in request.raw.socket && Boolean(request.raw.socket.encrypted) };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function stripQuery(uri: string): string {
  const index = uri.indexOf('?');
  return index === -1 ? uri : uri.slice(0, index);
}

function sourceOfPath(url: string): string {
  return url.startsWith('/webhooks/paragon') ? 'paragon' : url.startsWith('/webhooks/hubspot') ? 'hubspot' : 'other';
}
