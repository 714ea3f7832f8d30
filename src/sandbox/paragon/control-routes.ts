import type { FastifyInstance } from 'fastify';
import type { AppEventFaults } from './faults.ts';
import type { ParagonSandbox } from './sandbox.ts';
import { subscriptionBody } from './subscriptions.ts';

/**
 * `/__sandbox/paragon/...`: the test and demo controls. Ground truth (every App Event accepted,
 * every trigger webhook sent), fault settings, and subscription state.
 */
export function registerParagonControlRoutes(app: FastifyInstance, p: ParagonSandbox): void {
  const base = '/__sandbox/paragon';
  app.get(`${base}/app-events`, async () => ({ events: p.appEvents, stats: p.stats }));
  app.get(`${base}/stats`, async () => ({ ...p.stats, subscriptionMutations: p.subscriptions.mutations }));
  app.get(`${base}/faults`, async () => p.gate.faults);
  app.post(`${base}/faults`, async (req) => p.gate.set((req.body ?? {}) as Partial<AppEventFaults>));
  app.post(`${base}/outage`, async (req) => {
    const b = (req.body ?? {}) as { durationMs?: number; mode?: 'reset' | '503' };
    p.gate.outage(Number(b.durationMs ?? 60_000), b.mode ?? 'reset');
    return p.gate.faults;
  });
  app.post(`${base}/webhook-faults`, async (req) => {
    p.webhooks.setFaults((req.body ?? {}) as { dropProbability?: number; duplicateProbability?: number });
    return { ok: true };
  });
  app.post(`${base}/echo-webhook-metadata`, async (req) => {
    p.echoWebhookMetadata = ((req.body ?? {}) as { echo?: unknown }).echo === true;
    return { echo: p.echoWebhookMetadata };
  });
  app.get(`${base}/subscriptions`, async () => ({
    subscriptions: p.subscriptions.all().map((s) => ({ ...subscriptionBody(s), userId: s.userId, integration: s.integration })),
    mutations: p.subscriptions.mutations,
  }));
  app.post(`${base}/subscriptions/:id/status`, async (req, reply) => {
    const s = p.subscriptions.all().find((x) => x.id === (req.params as { id: string }).id);
    if (!s) return reply.code(404).send({ message: 'not found' });
    const b = (req.body ?? {}) as { status?: 'ACTIVE' | 'ERRORED'; error?: string };
    p.subscriptions.setStatus(s, b.status === 'ERRORED' ? 'ERRORED' : 'ACTIVE', b.error);
    return subscriptionBody(s);
  });
  app.get(`${base}/webhooks`, async () => ({
    deliveries: p.webhooks.deliveries.map(({ body: _body, ...d }) => d),
  }));
  app.post(`${base}/connections`, async (req) => {
    const b = (req.body ?? {}) as { userId: string; portalId: number | null };
    p.connect(b.userId, b.portalId);
    return { ok: true };
  });
  app.post(`${base}/reset`, async () => {
    p.reset();
    return { ok: true };
  });
}
