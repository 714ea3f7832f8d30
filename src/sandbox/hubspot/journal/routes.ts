/**
 * The journal's HTTP surface, as HubSpot serves it: the client-credentials token
 * (`POST /oauth/v1/token`, `/oauth/{version}/token`), the journal and its local variant
 * (`/webhooks-journal/journal[-local]/{version}/…`), subscriptions and filters
 * (`/webhooks-journal/subscriptions/{version}/…`), and the pre-signed files
 * (`/__journal-files/…`, S3's answers), with scopes, per-second limits (429 + Retry-After) and
 * injected failures. Control routes under `/__sandbox/hubspot/journal/…`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, validationError } from '../errors.ts';
import { resolveObjectType } from '../object-types.ts';
import { filterResponse, parseFilter, parseUpsert, subscriptionResponse, type JournalSubscription } from './subscriptions.ts';
import type { Entry, IssuedToken, JournalFaults, WebhooksJournal } from './journal.ts';
import type { JournalVariants } from './events.ts';

const VERSION = /^\d{4}-\d{2}(-beta)?$/;
const BATCH_MAX = 100;
const READ = 'developer.webhooks_journal.read';
const SUBSCRIPTIONS_READ = 'developer.webhooks_journal.subscriptions.read';
const SUBSCRIPTIONS_WRITE = 'developer.webhooks_journal.subscriptions.write';

type Params = Record<string, string>;
const grants = new WeakMap<FastifyRequest, IssuedToken>();

/** The CRM read scope a subscription to a type needs. */
function objectScope(typeId: string): string {
  const type = resolveObjectType(typeId);
  if (!type || typeId.startsWith('2-')) return 'crm.objects.custom.read';
  return type.name === 'tickets' ? 'tickets' : `crm.objects.${type.name}.read`;
}

function missingScope(reply: FastifyReply, scope: string): FastifyReply {
  return reply.code(403).send(
    errorBody("This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.", 'MISSING_SCOPES', {
      errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: [scope] } }],
    }),
  );
}

export function registerJournalRoutes(app: FastifyInstance, journal: WebhooksJournal): void {
  app.register(async (oauth) => {
    oauth.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))));
    const token = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
        return reply.code(415).send(errorBody('Content-Type must be application/x-www-form-urlencoded', 'VALIDATION_ERROR'));
      }
      const form = (req.body ?? {}) as Record<string, string>;
      if (form.grant_type !== 'client_credentials') return reply.code(400).send({ status: 'BAD_GRANT_TYPE', message: 'grant_type must be client_credentials' });
      const result = journal.issueToken(form.client_id ?? '', form.client_secret ?? '', form.scope ?? '');
      if ('status' in result) return reply.code(400).send({ ...result, correlationId: crypto.randomUUID() });
      return { access_token: result.token, expires_in: result.expiresIn, token_type: 'bearer', token_use: 'client_credentials', scopes: result.issued.scopes };
    };
    oauth.post('/oauth/v1/token', token);
    oauth.post('/oauth/:version/token', token);
  });

  app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
      const grant = bearer ? journal.tokenInfo(bearer) : undefined;
      if (!grant) return reply.code(401).send(errorBody('Authentication credentials not found. This API supports OAuth 2.0 authentication.', 'INVALID_AUTHENTICATION'));
      grants.set(req, grant);
      const kind = req.url.startsWith('/webhooks-journal/subscriptions/') ? 'subscriptions' : 'journal';
      const failure = journal.takeFailure();
      if (failure === 429) return reply.code(429).header('Retry-After', '1').send(errorBody('You have reached your secondly limit.', 'RATE_LIMITS', { errorType: 'RATE_LIMIT', policyName: 'SECONDLY' }));
      if (failure !== undefined) return reply.code(failure).send(errorBody('internal error', 'INTERNAL_ERROR'));
      const admission = journal.admit(grant.appId, kind);
      if (!admission.ok) {
        return reply
          .code(429)
          .header('Retry-After', String(Math.max(1, Math.ceil(admission.retryAfterMs / 1000))))
          .send(errorBody('You have reached your secondly limit.', 'RATE_LIMITS', { errorType: 'RATE_LIMIT', policyName: 'SECONDLY' }));
      }
    });
    registerJournalReads(api, journal);
    registerSubscriptionRoutes(api, journal);
  });

  // The pre-signed files: S3, not HubSpot. A second auth mechanism is refused, as S3 does.
  app.get('/__journal-files/:file', async (req, reply) => {
    if (req.headers.authorization) {
      return reply.code(400).type('application/xml').send(s3Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified'));
    }
    const offset = (req.params as Params).file!.replace(/\.json$/, '');
    const q = req.query as Record<string, string | undefined>;
    const result = journal.file(offset, Number(q['X-Amz-Expires'] ?? 0), q['X-Amz-Signature'] ?? '');
    if (!result.ok) return reply.code(result.status).type('application/xml').send(s3Error(result.code, result.message));
    if (result.delayMs > 0) await new Promise((r) => setTimeout(r, result.delayMs));
    return reply.type('application/json').send(result.body);
  });

  registerJournalControlRoutes(app, journal);
}

function s3Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function registerJournalReads(api: FastifyInstance, journal: WebhooksJournal): void {
  const prefix = '/webhooks-journal/:variant/:version';
  /** The journal the request reads, or an answer already sent. */
  const streamOf = (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as Params;
    if ((p.variant !== 'journal' && p.variant !== 'journal-local') || !VERSION.test(p.version ?? '')) {
      void reply.code(404).send(errorBody('resource not found', 'OBJECT_NOT_FOUND'));
      return undefined;
    }
    const grant = grants.get(req)!;
    if (!grant.scopes.includes(READ)) {
      void missingScope(reply, READ);
      return undefined;
    }
    const portal = (req.query as Record<string, string | undefined>).installPortalId;
    if (p.variant === 'journal-local') {
      const portalId = Number(portal);
      if (!Number.isSafeInteger(portalId) || portalId <= 0) {
        void reply.code(400).send(validationError('installPortalId is required for the local journal'));
        return undefined;
      }
      if (!journal.installed(grant.appId, portalId)) {
        void reply.code(403).send(errorBody(`the app is not installed in portal ${portalId}`, 'MISSING_SCOPES'));
        return undefined;
      }
      return journal.stream(grant.appId, portalId);
    }
    return journal.stream(grant.appId, undefined);
  };
  const fileBase = (req: FastifyRequest) => `${req.protocol}://${req.host}`;
  const one = (req: FastifyRequest, reply: FastifyReply, entry: Entry | undefined) => {
    if (entry) return journal.fetchResponse(entry, fileBase(req));
    return journal.variants.caughtUp === '204' ? reply.code(204).send() : reply.code(200).type('application/json').send('');
  };
  const many = (req: FastifyRequest, reply: FastifyReply, entries: readonly Entry[]) => {
    if (entries.length === 0 && journal.variants.caughtUp === '204') return reply.code(204).send();
    const now = new Date().toISOString();
    return { status: 'COMPLETE', results: entries.map((e) => journal.fetchResponse(e, fileBase(req))), startedAt: now, completedAt: now };
  };
  const count = (req: FastifyRequest, reply: FastifyReply): number | undefined => {
    const n = Number((req.params as Params).count);
    if (Number.isInteger(n) && n >= 1 && n <= BATCH_MAX) return n;
    void reply.code(400).send(validationError(`count must be between 1 and ${BATCH_MAX}`));
    return undefined;
  };
  const expired = (reply: FastifyReply, offset: string) =>
    reply.code(404).send(errorBody(`Offset ${offset} was not found: it has expired or does not exist`, 'OBJECT_NOT_FOUND'));

  api.get(`${prefix}/earliest`, async (req, reply) => {
    const stream = streamOf(req, reply);
    return stream ? one(req, reply, stream.entries[0]) : reply;
  });
  api.get(`${prefix}/latest`, async (req, reply) => {
    const stream = streamOf(req, reply);
    return stream ? one(req, reply, stream.entries.at(-1)) : reply;
  });
  api.get(`${prefix}/offset/:offset/next`, async (req, reply) => {
    const stream = streamOf(req, reply);
    if (!stream) return reply;
    const offset = (req.params as Params).offset!;
    const i = stream.indexOf(offset);
    return i === undefined ? expired(reply, offset) : one(req, reply, stream.entries[i + 1]);
  });
  api.get(`${prefix}/batch/earliest/:count`, async (req, reply) => {
    const stream = streamOf(req, reply);
    const n = stream && count(req, reply);
    return n ? many(req, reply, stream.entries.slice(0, n)) : reply;
  });
  api.get(`${prefix}/batch/latest/:count`, async (req, reply) => {
    const stream = streamOf(req, reply);
    const n = stream && count(req, reply);
    return n ? many(req, reply, stream.entries.slice(-n)) : reply;
  });
  api.get(`${prefix}/batch/:offset/next/:count`, async (req, reply) => {
    const stream = streamOf(req, reply);
    const n = stream && count(req, reply);
    if (!stream || !n) return reply;
    const offset = (req.params as Params).offset!;
    const i = stream.indexOf(offset);
    return i === undefined ? expired(reply, offset) : many(req, reply, stream.entries.slice(i + 1, i + 1 + n));
  });
  api.post(`${prefix}/batch/read`, async (req, reply) => {
    const stream = streamOf(req, reply);
    if (!stream) return reply;
    const inputs = ((req.body ?? {}) as { inputs?: unknown }).inputs;
    if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === 'string')) return reply.code(400).send(validationError('inputs must be a list of offsets'));
    if (inputs.length > BATCH_MAX) return reply.code(400).send(validationError(`Too many inputs. The maximum is ${BATCH_MAX}.`));
    const found = inputs.map((o) => stream.indexOf(o)).filter((i): i is number => i !== undefined).map((i) => stream.entries[i]!);
    const missing = inputs.filter((o) => stream.indexOf(o) === undefined);
    const now = new Date().toISOString();
    const body: Record<string, unknown> = { status: 'COMPLETE', results: found.map((e) => journal.fetchResponse(e, fileBase(req))), startedAt: now, completedAt: now };
    if (missing.length === 0) return body;
    body.numErrors = missing.length;
    body.errors = missing.map((o) => ({ status: 'error', category: 'OBJECT_NOT_FOUND', message: `Offset ${o} was not found`, context: { offset: [o] }, errors: [], links: {} }));
    return reply.code(207).send(body);
  });
}

function registerSubscriptionRoutes(api: FastifyInstance, journal: WebhooksJournal): void {
  const prefix = '/webhooks-journal/subscriptions/:version';
  /** The app of an authorised call, or undefined with the answer sent. */
  const appOf = (req: FastifyRequest, reply: FastifyReply, scope: string): number | undefined => {
    if (!VERSION.test((req.params as Params).version ?? '')) {
      void reply.code(404).send(errorBody('resource not found', 'OBJECT_NOT_FOUND'));
      return undefined;
    }
    const grant = grants.get(req)!;
    if (!grant.scopes.includes(scope)) {
      void missingScope(reply, scope);
      return undefined;
    }
    return grant.appId;
  };
  const find = (appId: number, id: string): JournalSubscription | undefined => journal.subscriptions(appId).find((s) => s.id === Number(id));
  const notFound = (reply: FastifyReply) => reply.code(404).send(errorBody('resource not found', 'OBJECT_NOT_FOUND'));

  api.post(prefix, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_WRITE);
    if (appId === undefined) return reply;
    const input = parseUpsert((req.body ?? {}) as Record<string, unknown>, (portalId) => journal.installed(appId, portalId));
    if (typeof input === 'string') return reply.code(400).send(validationError(input));
    const grant = grants.get(req)!;
    for (const typeId of input.subscriptionType === 'APP_LIFECYCLE_EVENT' ? [] : [input.objectTypeId, ...input.associatedObjectTypeIds]) {
      const scope = objectScope(typeId);
      if (input.subscriptionType !== 'LIST_MEMBERSHIP' && !grant.scopes.includes(scope)) return missingScope(reply, scope);
    }
    return subscriptionResponse(journal.upsert(appId, input));
  });
  api.get(prefix, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_READ);
    return appId === undefined ? reply : { results: journal.subscriptions(appId).map(subscriptionResponse) };
  });
  api.get(`${prefix}/:id`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_READ);
    if (appId === undefined) return reply;
    const s = find(appId, (req.params as Params).id!);
    return s ? subscriptionResponse(s) : notFound(reply);
  });
  api.delete(`${prefix}/:id`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_WRITE);
    if (appId === undefined) return reply;
    return journal.deleteSubscription(appId, Number((req.params as Params).id)) ? reply.code(204).send() : notFound(reply);
  });
  api.delete(`${prefix}/portals/:portalId`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_WRITE);
    if (appId === undefined) return reply;
    journal.deletePortalSubscriptions(appId, Number((req.params as Params).portalId));
    return reply.code(204).send();
  });
  api.post(`${prefix}/filters`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_WRITE);
    if (appId === undefined) return reply;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const conditions = parseFilter(body);
    if (typeof conditions === 'string') return reply.code(400).send(validationError(conditions));
    const filterId = journal.addFilter(appId, Number(body.subscriptionId), conditions);
    return filterId === undefined ? notFound(reply) : { filterId };
  });
  api.get(`${prefix}/filters/subscription/:id`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_READ);
    if (appId === undefined) return reply;
    const s = find(appId, (req.params as Params).id!);
    return s ? s.filters.map(filterResponse) : notFound(reply);
  });
  api.get(`${prefix}/filters/:filterId`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_READ);
    if (appId === undefined) return reply;
    const found = journal.findFilter(appId, Number((req.params as Params).filterId));
    return found ? filterResponse(found.subscription.filters[found.index]!) : notFound(reply);
  });
  api.delete(`${prefix}/filters/:filterId`, async (req, reply) => {
    const appId = appOf(req, reply, SUBSCRIPTIONS_WRITE);
    if (appId === undefined) return reply;
    const found = journal.findFilter(appId, Number((req.params as Params).filterId));
    if (!found) return notFound(reply);
    found.subscription.filters.splice(found.index, 1);
    return reply.code(204).send();
  });
}

/** Unauthenticated control of the journal for tests, the demo and humans. */
function registerJournalControlRoutes(app: FastifyInstance, journal: WebhooksJournal): void {
  const prefix = '/__sandbox/hubspot/journal';
  app.get(`${prefix}/config`, async () => ({ apps: journal.apps(), variants: journal.variants, faults: journal.faults, retentionMs: journal.retentionMs, counts: journal.counts }));
  app.put(`${prefix}/variants`, async (req) => ({ variants: journal.setVariants((req.body ?? {}) as Partial<JournalVariants>) }));
  app.put(`${prefix}/faults`, async (req) => ({ faults: journal.setFaults((req.body ?? {}) as Partial<JournalFaults>) }));
  app.post(`${prefix}/expire`, async () => {
    journal.expireAll();
    return { ok: true };
  });
  app.post(`${prefix}/revoke-tokens`, async () => {
    journal.revokeTokens();
    return { ok: true };
  });
  app.post(`${prefix}/install`, async (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    journal.setInstalled(Number(b.appId), Number(b.portalId), b.installed !== false);
    return { ok: true };
  });
}
