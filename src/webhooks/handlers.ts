/**
 * The receiver's handlers, apart from HTTP: each takes a plain request (the raw bytes, headers and
 * request target) and returns the status and body to answer, so it can be read and tested without
 * a server. `receiver.ts` registers them as routes. Verify the signature on the raw bytes,
 * validate, store the batch in one statement, and only then answer 2xx; a refusal is 401 with no
 * detail (the log says which check failed and why); storage down or slow is 503.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ping } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { verifyHubSpot } from './hubspot-signature.ts';
import { foldDuplicates, type ParsedBatch, type WebhookSource } from './inbox.ts';
import { parseHubSpotRequest, parseParagonRequest, storeWithin, type ParsedRequest, type StoreOutcome } from './ingest.ts';
import { receiverLoad } from './flood.ts';
import { logThrottle } from './log-throttle.ts';
import { verifyParagon } from './paragon-signature.ts';
import { alternativeUris, publicUri, type RequestTarget } from './public-url.ts';

export type Readiness = () => Promise<{ ok: boolean; reasons: string[] }>;

export interface ReceiverDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics: Metrics;
  config: Pick<Config, 'http' | 'webhooks' | 'hubspot' | 'paragon' | 'jobs' | 'metrics'>;
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

/** A request as the handlers see it. */
export interface WebhookRequest {
  method: string;
  /** The raw request target (path and query exactly as sent), headers, and whether the socket is TLS. */
  target: RequestTarget & { headers: IncomingHttpHeaders };
  body: Buffer;
  query: Record<string, string | string[] | undefined>;
}

export interface HandlerReply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface WebhookHandlers {
  hubspot(request: WebhookRequest): Promise<HandlerReply>;
  paragon(request: WebhookRequest): Promise<HandlerReply>;
  readyz(): Promise<HandlerReply>;
  /** Counts and logs (throttled) a request refused before a handler ran: 413, 415, a bad header. */
  refusedEarly(status: number, code: string | undefined, url: string): void;
}

/** The portal a record post belongs to when it does not say: the only one configured, if there is exactly one. */
function defaultPortalId(config: Pick<Config, 'hubspot' | 'jobs'>): number | undefined {
  const portals = new Set([...config.hubspot.accounts.map((a) => a.portalId), ...config.jobs.map((j) => j.portalId)]);
  return portals.size === 1 ? [...portals][0] : undefined;
}

export function createWebhookHandlers(deps: ReceiverDeps, log: Logger): WebhookHandlers {
  const { db, metrics, config } = deps;
  const now = deps.now ?? Date.now;
  const maxAgeMs = config.webhooks.maxSignatureAgeSeconds * 1000;
  const portal = defaultPortalId(config);
  const urlOptions = { publicUrl: config.http.publicUrl, trustProxy: config.http.trustProxy };
  const throttle = logThrottle(10_000, now);
  // How busy this receiver is, told to the workers with each announcement of new events (flood.ts).
  const load = receiverLoad(now);
  const storeBatch = deps.storeBatch ?? ((batch: ParsedBatch, at: Date) => storeWithin(db, batch, at, config.webhooks.storeTimeoutMs, load.busy));
  const inHand = async (handle: () => Promise<HandlerReply>): Promise<HandlerReply> => {
    load.enter();
    try {
      return await handle();
    } finally {
      load.leave();
    }
  };

  const store = async (source: WebhookSource, parsed: ParsedBatch, receivedAt: number): Promise<HandlerReply> => {
    const { batch, folded } = foldDuplicates(parsed);
    const outcome = await storeBatch(batch, new Date(receivedAt));
    if (!outcome.ok) {
      metrics.count('webhook.requests.unavailable', 1, { source, reason: outcome.reason });
      log.error({ err: outcome.err, source, reason: outcome.reason, events: batch.events.length }, 'webhook batch not stored: answering 503 so the sender retries');
      return { status: 503, headers: { 'retry-after': '5' }, body: { error: 'unavailable' } };
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
    return { status: 200, body: { received, stored: inserted, duplicates: duplicates + folded, quarantined } };
  };

  const refuse = (source: WebhookSource, fields: { check: string; cause: string } & Record<string, unknown>): HandlerReply => {
    metrics.count('webhook.requests.rejected', 1, { source, status: 401 });
    throttle(`401:${source}:${fields.check}:${fields.cause}`, (suppressed) => log.warn({ ...fields, ...(suppressed ? { suppressed } : {}) }, 'webhook signature refused'));
    return { status: 401, body: { error: 'unauthorized' } };
  };

  const malformed = (source: string, parsed: Extract<ParsedRequest, { ok: false }>): HandlerReply => {
    metrics.count('webhook.requests.rejected', 1, { source, status: 400 });
    throttle(`400:${source}:${parsed.reason}`, (suppressed) => log.warn({ source, reason: parsed.reason, ...(suppressed ? { suppressed } : {}) }, 'webhook request malformed'));
    return { status: 400, body: { error: 'bad request' } };
  };

  return {
    hubspot: (request) => inHand(async () => {
      const started = now();
      const uri = publicUri(request.target, urlOptions);
      const verdict = verifyHubSpot(
        { method: request.method, uri, body: request.body, headers: request.target.headers },
        { apps: config.hubspot.apps, now: started, maxAgeMs, alternativeUris: () => alternativeUris(request.target, urlOptions) },
      );
      if (!verdict.ok) return refuse('hubspot', { source: 'hubspot', version: verdict.version, check: verdict.check, cause: verdict.cause, uri: stripQuery(uri) });
      const parsed = parseHubSpotRequest(request.body, { portalId: single(request.query.portalId), objectType: single(request.query.objectType), defaultPortalId: portal });
      if (!parsed.ok) return malformed('hubspot', parsed);
      return store(parsed.source, parsed.batch, started);
    }),

    paragon: (request) => inHand(async () => {
      const started = now();
      const signature = request.target.headers['x-paragon-signature'];
      const verdict = verifyParagon(Array.isArray(signature) ? signature.join(',') : signature, request.body, config.paragon?.webhookSecret ?? '');
      if (!verdict.ok) return refuse('paragon', { source: 'paragon', check: verdict.check, cause: verdict.cause });
      const parsed = parseParagonRequest(request.body, { portalId: single(request.query.portalId), objectType: single(request.query.objectType), defaultPortalId: portal });
      if (!parsed.ok) return malformed('paragon', parsed);
      return store('paragon', parsed.batch, started);
    }),

    async readyz() {
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
      return { status: reasons.length === 0 ? 200 : 503, body: { ok: reasons.length === 0, reasons } };
    },

    refusedEarly(status, code, url) {
      const source = sourceOfPath(url);
      metrics.count('webhook.requests.rejected', 1, { source, status });
      throttle(`${status}:${source}:${code}`, (suppressed) => log.warn({ status, code, source, ...(suppressed ? { suppressed } : {}) }, 'webhook request refused'));
    },
  };
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
