import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ParagonSandbox } from './sandbox.ts';
import { findTrigger, parseWebhookOverride, recordObjectType, subscriptionBody, TRIGGERS } from './subscriptions.ts';
import { flatRecord } from './trigger-webhooks.ts';

/** Sample records `POST /triggers/examples` answers with, per HubSpot record type. */
const EXAMPLES: Readonly<Record<string, Record<string, string>>> = {
  contacts: { email: 'ada@example.com', firstname: 'Ada', lastname: 'Lovelace', lifecyclestage: 'lead' },
  companies: { name: 'Analytical Engines Ltd', domain: 'engines.example' },
  deals: { dealname: 'Sample Deal', amount: '50000', dealstage: 'appointmentscheduled', closedate: '2025-12-31' },
  tickets: { subject: 'Sample Ticket', hs_pipeline_stage: '1' },
};

type Params = { projectId: string; id?: string };

const error = (reply: FastifyReply, status: number, message: string) => reply.code(status).send({ message, status });

/**
 * Paragon's public surface: App Events and the Connect SDK's `/sdk/me` on the API host, and the
 * ActionKit Triggers API under `actionKitPath` (the sandbox serves both hosts from one port).
 */
export function registerParagonRoutes(app: FastifyInstance, p: ParagonSandbox): void {
  /** The Connected User, or a 401/404 already sent. */
  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<string | undefined> => {
    if ((req.params as Params).projectId !== p.projectId) {
      await error(reply, 404, 'Project not found');
      return undefined;
    }
    const check = await p.verifyToken(req.headers.authorization);
    if (!check.ok) {
      p.stats.unauthorized++;
      await error(reply, 401, check.message);
      return undefined;
    }
    return check.sub;
  };

  app.post('/projects/:projectId/sdk/events/trigger', async (req, reply) => {
    const userId = await authenticate(req, reply);
    if (userId === undefined) return reply;
    const body = req.body as { name?: unknown; payload?: unknown } | undefined;
    if (!body || typeof body.name !== 'string' || body.name === '' || typeof body.payload !== 'object' || body.payload === null) {
      p.stats.badRequest++;
      return error(reply, 400, 'Body must be {"name": string, "payload": object}');
    }
    const latency = p.gate.faults.latencyMs;
    if (latency > 0) {
      // Tests kill a client while requests are in flight: this is how they know some are.
      p.inFlight++;
      await delay(p.clock.scale(latency)).finally(() => p.inFlight--);
    }
    const admission = p.gate.admit({ name: body.name, userId });
    switch (admission.kind) {
      case 'outage':
        p.stats.outage++;
        if (admission.mode === '503') return error(reply, 503, 'Service Unavailable');
        reply.hijack();
        req.raw.socket.destroy();
        return reply;
      case 'throttle':
        p.stats.throttled++;
        // Wall seconds, with fractions when time is scaled (a real Retry-After is whole seconds).
        reply.header('Retry-After', String(Math.max(0.001, admission.retryAfterMs / 1000)));
        return error(reply, 429, 'Too Many Requests');
      case 'error':
        p.stats.errors++;
        return error(reply, admission.status, 'Internal Server Error');
      case 'reject':
        p.stats.rejected++;
        return error(reply, admission.status, admission.message);
      case 'accept':
        p.recordAppEvent(body.name, body.payload as Record<string, unknown>, userId);
        return reply.code(201).send({});
    }
  });

  app.get('/projects/:projectId/sdk/me', async (req, reply) => {
    const userId = await authenticate(req, reply);
    if (userId === undefined) return reply;
    const portalId = p.portalOf(userId);
    const integrations: Record<string, unknown> = {};
    if (portalId !== undefined) {
      integrations['hubspot'] = { enabled: true, credentialStatus: 'VALID', credentialId: p.credentialOf(userId), providerId: String(portalId) };
    }
    return { id: userId, authenticated: true, integrations, meta: {} };
  });

  app.register(
    async (ak) => {
      ak.get('/projects/:projectId/triggers', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const all = (req.query as Record<string, string | undefined>)['limit_to_available'] === 'false';
        const connected = p.portalOf(userId) !== undefined;
        const triggers: Record<string, unknown[]> = {};
        for (const [integration, list] of Object.entries(TRIGGERS)) {
          if (all || (integration === 'hubspot' && connected)) triggers[integration] = list.map(({ fires: _fires, ...t }) => t);
        }
        return { triggers };
      });

      ak.post('/projects/:projectId/triggers/examples', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const b = (req.body ?? {}) as { type?: string; integration?: string; parameters?: Record<string, unknown> };
        const trigger = findTrigger(b.integration ?? '', b.type ?? '');
        if (!trigger) return error(reply, 400, `Unknown trigger ${b.integration}/${b.type}`);
        // Documented: an array of example records, flat, as the trigger's events carry them.
        const recordType = recordObjectType(b.parameters ?? {}) ?? 'contacts';
        return [flatRecord('1001', EXAMPLES[recordType] ?? { name: 'Sample record' })];
      });

      ak.post('/projects/:projectId/trigger-subscriptions', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const b = (req.body ?? {}) as { integration?: unknown; type?: unknown; parameters?: unknown; webhookOverride?: unknown };
        if (typeof b.integration !== 'string' || typeof b.type !== 'string') return error(reply, 400, 'integration and type are required');
        const trigger = findTrigger(b.integration, b.type);
        if (!trigger) return error(reply, 400, `Unknown trigger ${b.integration}/${b.type}`);
        if (b.integration === 'hubspot' && p.portalOf(userId) === undefined) return error(reply, 400, 'Integration hubspot is not connected for this user');
        const parameters = (b.parameters ?? {}) as Record<string, unknown>;
        if (typeof parameters !== 'object' || parameters === null) return error(reply, 400, 'parameters must be an object');
        const missing = trigger.parameters.filter((param) => param.required && (parameters[param.id] === undefined || parameters[param.id] === ''));
        if (missing.length > 0) return error(reply, 400, `Missing required parameters: ${missing.map((m) => m.id).join(', ')}`);
        const override = parseWebhookOverride(b.webhookOverride);
        if (!override.ok) return error(reply, 400, override.message);
        const credentialId = req.headers['x-paragon-credential'];
        const s = p.subscriptions.create({
          userId, integration: b.integration, type: b.type, parameters,
          credentialId: typeof credentialId === 'string' ? credentialId : p.credentialOf(userId),
          ...(override.value ? { webhookOverride: override.value } : {}),
        });
        return reply.code(201).send(subscriptionBody(s, p.echoWebhookMetadata));
      });

      ak.get('/projects/:projectId/trigger-subscriptions', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const q = req.query as Record<string, string | undefined>;
        const integrations = q['integrations']?.split(',').filter(Boolean);
        const triggers: Record<string, unknown[]> = {};
        for (const s of p.subscriptions.forUser(userId)) {
          if (integrations && !integrations.includes(s.integration)) continue;
          if (q['status'] && s.status !== q['status']) continue;
          if (q['type'] && s.type !== q['type']) continue;
          (triggers[s.integration] ??= []).push(subscriptionBody(s, p.echoWebhookMetadata));
        }
        return { triggers };
      });

      ak.patch('/projects/:projectId/trigger-subscriptions/:id', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const s = p.subscriptions.get(userId, (req.params as Params).id ?? '');
        if (!s) return error(reply, 404, 'Trigger subscription not found');
        const b = (req.body ?? {}) as { parameters?: unknown; webhookOverride?: unknown };
        if (b.parameters !== undefined && (typeof b.parameters !== 'object' || b.parameters === null)) return error(reply, 400, 'parameters must be an object');
        const override = parseWebhookOverride(b.webhookOverride);
        if (!override.ok) return error(reply, 400, override.message);
        p.subscriptions.patch(s, b.parameters as Record<string, unknown> | undefined, b.webhookOverride === null ? null : override.value);
        return subscriptionBody(s, p.echoWebhookMetadata);
      });

      ak.delete('/projects/:projectId/trigger-subscriptions/:id', async (req, reply) => {
        const userId = await authenticate(req, reply);
        if (userId === undefined) return reply;
        const s = p.subscriptions.get(userId, (req.params as Params).id ?? '');
        if (!s) return error(reply, 404, 'Trigger subscription not found');
        p.subscriptions.delete(s);
        return { success: true };
      });
    },
    { prefix: p.actionKitPath },
  );
}
