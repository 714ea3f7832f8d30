import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HubSpotSandbox } from './hubspot.ts';
import type { LimitPolicy } from './limits.ts';
import type { MutationResult } from './store.ts';
import type { AppOptions, WebhookFaults } from './webhooks.ts';
import type { WorkflowOptions } from './workflows.ts';

type Body = Record<string, unknown>;
const POLICIES = new Set(['TEN_SECONDLY_ROLLING', 'SECONDLY', 'DAILY']);
const PREFIX = '/__sandbox/hubspot';

function result(reply: FastifyReply, r: MutationResult): unknown {
  return r.ok ? { id: r.object.id, properties: r.object.state.properties, archived: r.object.state.archived } : reply.code(r.status).send({ error: r.message });
}

/** Unauthenticated control and truth routes for tests, the demo and humans (the sandbox listens on loopback). */
export function registerControlRoutes(app: FastifyInstance, hs: HubSpotSandbox): void {
  const portal = (b: Body): { portalId?: number } => (b['portalId'] !== undefined ? { portalId: Number(b['portalId']) } : {});

  app.get(`${PREFIX}/config`, async () => ({
    accounts: hs.accountOptions(), apps: hs.webhooks.apps(), workflows: hs.workflows.list(),
    faults: hs.webhooks.faults, indexLagMs: hs.store.indexLagMs, timeScale: hs.clock.timeScale,
  }));

  app.post(`${PREFIX}/seed`, async (req) => {
    const b = (req.body ?? {}) as Body;
    const fixed = b['properties'] as Record<string, string> | undefined;
    const ids = hs.seed({
      objectType: String(b['objectType'] ?? 'contacts'), count: Number(b['count'] ?? 1), ...portal(b),
      ...(b['at'] !== undefined ? { at: typeof b['at'] === 'number' ? b['at'] : Date.parse(String(b['at'])) } : {}),
      ...(fixed ? { properties: () => fixed } : {}), emit: b['emit'] === true,
    });
    return { count: ids.length, firstId: ids[0] ?? null, lastId: ids[ids.length - 1] ?? null };
  });

  app.post(`${PREFIX}/mutate`, async (req, reply) => {
    const b = (req.body ?? {}) as Body;
    const type = String(b['objectType'] ?? 'contacts');
    const id = String(b['id'] ?? '');
    const props = (b['properties'] ?? {}) as Record<string, string | null>;
    const opts = { ...portal(b), ...(b['at'] !== undefined ? { at: Number(b['at']) } : {}) };
    try {
      switch (b['op']) {
        case 'create': {
          const o = hs.create(type, props, opts);
          return { id: o.id, properties: o.state.properties, archived: false };
        }
        case 'update': return result(reply, hs.update(type, id, props, opts));
        case 'delete': return result(reply, hs.archive(type, id, opts));
        case 'restore': return result(reply, hs.restore(type, id, opts));
        case 'merge': return result(reply, hs.merge(type, String(b['primaryObjectId'] ?? id), String(b['objectIdToMerge'] ?? ''), opts));
        case 'privacyDelete': return result(reply, hs.privacyDelete(id, opts));
        case 'associate':
        case 'dissociate':
          return result(reply, hs.associate(type, id, String(b['toObjectType'] ?? ''), String(b['toObjectId'] ?? ''), { ...opts, remove: b['op'] === 'dissociate' }));
        default: return reply.code(400).send({ error: `unknown op: ${String(b['op'])}` });
      }
    } catch (err) {
      return reply.code(400).send({ error: err instanceof Error ? err.message : String(err) });
    }
  });

  app.post(`${PREFIX}/stream`, async (req) => {
    const b = (req.body ?? {}) as Body;
    const ops = hs.runStream({
      seed: Number(b['seed'] ?? 1), count: Number(b['count'] ?? 10), ...portal(b),
      ...(b['startAt'] !== undefined ? { startAt: Number(b['startAt']) } : {}), ...(b['stepMs'] !== undefined ? { stepMs: Number(b['stepMs']) } : {}),
    });
    return { ops };
  });

  app.put(`${PREFIX}/faults`, async (req) => ({ faults: hs.setFaults((req.body ?? {}) as Partial<WebhookFaults>) }));

  app.put(`${PREFIX}/index-lag`, async (req) => {
    hs.setIndexLag(Number(((req.body ?? {}) as Body)['ms'] ?? 0));
    return { indexLagMs: hs.store.indexLagMs };
  });

  app.post(`${PREFIX}/limits`, async (req, reply) => {
    const b = (req.body ?? {}) as Body;
    const p = b['portalId'] === undefined ? undefined : Number(b['portalId']);
    if (b['action'] === 'reset') hs.resetLimits(p);
    else if (b['action'] === 'exhaust' && POLICIES.has(String(b['policy']))) hs.exhaustLimit(b['policy'] as LimitPolicy, p);
    else if (b['action'] === 'failNext') {
      hs.failNext({ status: Number(b['status'] ?? 503), count: Number(b['count'] ?? 1), ...(p !== undefined ? { portalId: p } : {}),
        ...(POLICIES.has(String(b['policy'])) ? { policy: b['policy'] as LimitPolicy } : {}) });
    } else return reply.code(400).send({ error: 'action must be reset, exhaust (with policy) or failNext' });
    return { ok: true };
  });

  app.post(`${PREFIX}/apps`, async (req) => {
    hs.webhooks.addApp(req.body as AppOptions);
    return { apps: hs.webhooks.apps() };
  });

  app.post(`${PREFIX}/workflows`, async (req) => {
    hs.workflows.add(req.body as WorkflowOptions);
    return { workflows: hs.workflows.list() };
  });

  app.get(`${PREFIX}/truth`, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    return { portals: hs.truth(q['portalId'] ? Number(q['portalId']) : undefined) };
  });

  // `?sinceSeq=n` returns only records after n, so a poller can follow along.
  app.get(`${PREFIX}/deliveries`, async (req) => {
    const since = Number((req.query as Record<string, string | undefined>)['sinceSeq'] ?? 0);
    return { deliveries: hs.deliveries().filter((d) => d.seq > since) };
  });
  app.get(`${PREFIX}/workflow-deliveries`, async () => ({ deliveries: hs.workflowDeliveries() }));
  app.post(`${PREFIX}/idle`, async () => {
    await hs.idle();
    return { ok: true };
  });
}
