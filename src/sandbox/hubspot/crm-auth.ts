import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Account, Accounts } from './accounts.ts';
import { errorBody } from './errors.ts';
import { rateLimitBody } from './limits.ts';

const accountOf = new WeakMap<FastifyRequest, Account>();

/** The account a CRM request authenticated as (set by the auth hook). */
export function requestAccount(req: FastifyRequest): Account {
  const a = accountOf.get(req);
  if (!a) throw new Error('CRM route reached without the auth hook');
  return a;
}

/**
 * URL length, auth, injected faults and rate limits, in HubSpot's order: a URL too long is refused (414) before
 * anything else looks at the request; 401 before 429; search is limited per second and answers without
 * rate-limit headers; everything else carries the X-HubSpot-RateLimit-* headers.
 */
export function addCrmGuards(app: FastifyInstance, accounts: Accounts, limits: { maxUrlLength: number }): void {
  // Error bodies name the request's correlation id, the one in the header.
  app.addHook('preSerialization', async (_req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const id = reply.getHeader('x-hubspot-correlation-id');
    if (reply.statusCode >= 400 && typeof id === 'string' && payload !== null && typeof payload === 'object' && 'correlationId' in payload) {
      return { ...payload, correlationId: id };
    }
    return payload;
  });
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.url.length > limits.maxUrlLength) {
      // HubSpot's edge answers an HTML page here, not a JSON error.
      return reply.code(414).type('text/html').send('<html><body><h1>414 Request-URI Too Large</h1></body></html>');
    }
    const correlationId = randomUUID();
    reply.header('x-hubspot-correlation-id', correlationId);
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const account = token ? accounts.byToken(token) : undefined;
    if (!account) {
      const message = token
        ? 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview'
        : 'Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';
      return reply.code(401).send({ ...errorBody(message, 'INVALID_AUTHENTICATION'), correlationId });
    }
    accountOf.set(req, account);
    const isSearch = req.method === 'POST' && /\/search\/?(\?|$)/.test(req.url);
    const groupName = isSearch ? `search-api:${account.portalId}` : `api-calls:${account.portalId}`;

    const fault = accounts.takeFault(account.portalId);
    if (fault?.status === 429) {
      const policy = fault.policy ?? (isSearch ? 'SECONDLY' : 'TEN_SECONDLY_ROLLING');
      if (!isSearch) reply.headers(account.limiter.headers());
      // As the limiter's own 429s: the window the policy implies (a daily one waits for the reset, unannounced).
      if (account.retryAfter && policy !== 'DAILY') reply.header('Retry-After', String(Math.ceil((policy === 'SECONDLY' ? 1000 : account.limiter.windowMs) / 1000)));
      return reply.code(429).send(rateLimitBody(policy, correlationId, groupName));
    }
    if (fault) {
      return reply.code(fault.status).send({ ...errorBody('internal error', 'INTERNAL_ERROR'), correlationId });
    }

    const admission = account.limiter.admit(isSearch ? 'search' : 'api');
    reply.headers(admission.headers);
    if (!admission.ok) {
      if (account.retryAfter) reply.header('Retry-After', String(Math.ceil(admission.retryAfterMs / 1000)));
      return reply.code(429).send(rateLimitBody(admission.policy, correlationId, groupName));
    }
  });
}
