/**
 * The webhook receiver's HTTP side (`web` role): the fastify app, its limits and shutdown
 * behaviour, the raw-bytes body parser signatures need, and the routes, each handing a plain
 * request to its handler in `handlers.ts`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { OPENMETRICS_CONTENT_TYPE, openMetricsText } from '../metrics/openmetrics.ts';
import { createWebhookHandlers, type HandlerReply, type ReceiverDeps, type WebhookRequest } from './handlers.ts';

export interface ReceiverOptions extends ReceiverDeps {
  /** True once shutdown has begun: every request is answered 503 with `Connection: close` (healthz 200). */
  draining?: () => boolean;
}

/** Builds the receiver's fastify app; the caller listens (or injects, in tests). */
export function buildReceiver(deps: ReceiverOptions): FastifyInstance {
  const log = deps.log.child({ module: 'webhooks' });
  const handlers = createWebhookHandlers(deps, log);
  const bodyLimit = deps.config.http.bodyLimitBytes;

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
  // instead of idling until the keep-alive timeout and holding close() up. A request that
  // arrives while draining, on a new or a kept-alive connection, gets a clean 503 (the sender
  // retries) rather than a reset.
  let closing = false;
  const draining = () => closing || (deps.draining?.() ?? false);
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!draining() || request.url === '/healthz') return;
    return reply.code(503).header('connection', 'close').header('retry-after', '5').send({ error: 'shutting down' });
  });
  app.addHook('onSend', async (_request, reply) => {
    if (draining()) reply.header('connection', 'close');
  });
  // Keep the body as bytes: signatures are over exactly what was sent, never re-serialised JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) log.error({ err, url: request.url }, 'webhook request failed');
    else handlers.refusedEarly(status, err.code, request.url);
    return reply.code(status).send({ error: status === 413 ? 'payload too large' : status === 415 ? 'unsupported media type' : status >= 500 ? 'internal error' : 'bad request' });
  });

  app.post('/webhooks/hubspot', async (request, reply) => send(reply, await handlers.hubspot(webhookRequest(request))));
  app.post('/webhooks/paragon', async (request, reply) => send(reply, await handlers.paragon(webhookRequest(request))));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => send(reply, await handlers.readyz()));
  // The receiver is public: its /metrics answers only with the configured token (or use metrics.port).
  const token = deps.config.metrics.token;
  if (token) {
    app.get('/metrics', async (request, reply) => {
      if (!bearerMatches(request.headers.authorization, token)) return reply.code(401).send({ error: 'unauthorized' });
      return reply.type(OPENMETRICS_CONTENT_TYPE).send(await openMetricsText(deps.metrics.peek()));
    });
  }
  return app;
}

function webhookRequest(request: FastifyRequest): WebhookRequest {
  return {
    method: request.method,
    // `raw.url` is the request target exactly as sent: path and query, escapes and order untouched.
    target: { url: request.raw.url ?? request.url, headers: request.headers, encrypted: 'encrypted' in request.raw.socket && Boolean(request.raw.socket.encrypted) },
    body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
    query: request.query as WebhookRequest['query'],
  };
}

function send(reply: FastifyReply, answer: HandlerReply): FastifyReply {
  if (answer.headers) reply.headers(answer.headers);
  return reply.code(answer.status).send(answer.body);
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
