import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Accounts } from './accounts.ts';
import { registerAssociationRoutes } from './association-routes.ts';
import { registerBatchWriteRoutes } from './batch-write-routes.ts';
import { registerSchemaRoutes } from './schema-routes.ts';
import { registerPropertyRoutes } from './property-routes.ts';
import { addCrmGuards, requestAccount } from './crm-auth.ts';
import { errorBody, notFoundError, validationError } from './errors.ts';
import { resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import { parseSearchRequest, runSearch } from './search.ts';
import { splitList, toApiObject } from './serialize.ts';
import type { HubSpotStore, MutationResult, StoredObject } from './store.ts';

type Params = { type: string; id?: string; toType?: string; toId?: string };
type Query = Record<string, string | string[] | undefined>;

const LIST_MAX = 100;
const BATCH_MAX = 100;

/** CRM v3 object routes: reads exactly as HubSpot answers them, plus the basic writes. */
export function registerCrmRoutes(app: FastifyInstance, store: HubSpotStore, accounts: Accounts, limits: { maxUrlLength: number }): void {
  app.register(async (crm) => {
    addCrmGuards(crm, accounts, limits);
    registerAssociationRoutes(crm, store);
    registerBatchWriteRoutes(crm, store);
    registerSchemaRoutes(crm);
    registerPropertyRoutes(crm, store);

    const typeOf = (req: FastifyRequest, reply: FastifyReply): ObjectTypeDef | undefined => {
      const t = resolveObjectType((req.params as Params).type);
      if (!t) void reply.code(400).send(errorBody(`Unable to infer object type from: ${(req.params as Params).type}`, 'VALIDATION_ERROR'));
      return t;
    };
    const source = { changeSource: 'API', sourceId: 'sandbox-api' };
    const sendMutation = (req: FastifyRequest, reply: FastifyReply, r: MutationResult, status = 200): unknown => {
      if (!r.ok) return reply.code(r.status).send(r.status === 404 ? notFoundError() : validationError(r.message));
      const portalId = requestAccount(req).portalId;
      return reply.code(status).send(toApiObject(store, portalId, r.object, r.object.state, { properties: null }));
    };

    crm.get('/crm/v3/objects/:type', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const q = req.query as Query;
      const limit = Math.min(Number(q['limit'] ?? 10) || 10, LIST_MAX);
      const after = q['after'] ? Number(q['after']) : 0;
      const archived = q['archived'] === 'true';
      const props = splitList(q['properties']);
      const hist = splitList(q['propertiesWithHistory']);
      const assoc = splitList(q['associations']);
      const portalId = requestAccount(req).portalId;
      const results: unknown[] = [];
      let next: string | null = null;
      for (const obj of store.objects(portalId, type)) {
        if (Number(obj.id) < after || obj.mergedInto || obj.privacyDeleted || obj.state.archived !== archived) continue;
        if (results.length === limit) {
          next = obj.id;
          break;
        }
        results.push(toApiObject(store, portalId, obj, obj.state, { properties: props, propertiesWithHistory: hist, associations: assoc }));
      }
      const body: Record<string, unknown> = { results };
      if (next !== null) {
        const link = `${req.protocol}://${req.host}/crm/v3/objects/${type.name}?after=${next}&limit=${limit}${archived ? '&archived=true' : ''}`;
        body['paging'] = { next: { after: next, link } };
      }
      return body;
    });

    crm.get('/crm/v3/objects/:type/:id', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const q = req.query as Query;
      const portalId = requestAccount(req).portalId;
      const idProperty = typeof q['idProperty'] === 'string' ? q['idProperty'] : undefined;
      const obj = lookup(store, portalId, type, (req.params as Params).id ?? '', idProperty);
      if (!obj || obj.state.archived !== (q['archived'] === 'true')) return reply.code(404).send(notFoundError());
      return toApiObject(store, portalId, obj, obj.state, {
        properties: splitList(q['properties']), propertiesWithHistory: splitList(q['propertiesWithHistory']), associations: splitList(q['associations']),
      });
    });

    crm.post('/crm/v3/objects/:type/batch/read', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const startedAt = new Date().toISOString();
      const body = (req.body ?? {}) as { inputs?: { id?: unknown }[]; properties?: string[]; propertiesWithHistory?: string[]; idProperty?: string };
      const inputs = Array.isArray(body.inputs) ? body.inputs : [];
      if (inputs.length > BATCH_MAX) return reply.code(400).send(validationError(`Too many inputs: ${inputs.length}. The maximum is ${BATCH_MAX}.`));
      const archived = (req.query as Query)['archived'] === 'true';
      const portalId = requestAccount(req).portalId;
      const results: unknown[] = [];
      const missing: string[] = [];
      const seen = new Set<string>();
      for (const input of inputs) {
        const id = String(input?.id ?? '');
        const obj = lookup(store, portalId, type, id, body.idProperty);
        if (!obj || obj.state.archived !== archived) {
          missing.push(id);
        } else if (!seen.has(obj.id)) {
          seen.add(obj.id);
          results.push(toApiObject(store, portalId, obj, obj.state, { properties: body.properties ?? null, propertiesWithHistory: body.propertiesWithHistory ?? null }));
        }
      }
      const out: Record<string, unknown> = { status: 'COMPLETE', results, startedAt, completedAt: new Date().toISOString() };
      if (missing.length === 0) return out;
      out['numErrors'] = 1;
      out['errors'] = [{
        status: 'error', category: 'OBJECT_NOT_FOUND', subCategory: 'crm.objects.OBJECT_NOT_FOUND',
        message: `Could not get some ${type.singular.toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`,
        context: { ids: missing }, links: {}, errors: [],
      }];
      return reply.code(207).send(out);
    });

    crm.post('/crm/v3/objects/:type/search', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const parsed = parseSearchRequest(req.body);
      if (!parsed.ok) return reply.code(400).send(validationError(parsed.message));
      const portalId = requestAccount(req).portalId;
      const candidates = [];
      for (const obj of store.objects(portalId, type)) {
        const state = store.searchState(obj);
        if (state) candidates.push({ id: obj.id, properties: state.properties, obj, state });
      }
      const page = runSearch(candidates, parsed.request, type.searchableProperties);
      if (!page.ok) return reply.code(400).send(validationError(page.message));
      const results = page.results.map((c) => toApiObject(store, portalId, c.obj, c.state, { properties: parsed.request.properties }));
      const out: Record<string, unknown> = { total: page.total, results };
      if (page.nextAfter !== null) out['paging'] = { next: { after: page.nextAfter } };
      return out;
    });

    crm.post('/crm/v3/objects/:type', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const props = ((req.body ?? {}) as { properties?: Record<string, string | null> }).properties ?? {};
      const obj = store.create(requestAccount(req).portalId, type, stringify(props), { source });
      return sendMutation(req, reply, { ok: true, object: obj }, 201);
    });

    crm.patch('/crm/v3/objects/:type/:id', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const props = ((req.body ?? {}) as { properties?: Record<string, string | null> }).properties ?? {};
      return sendMutation(req, reply, store.update(requestAccount(req).portalId, type, (req.params as Params).id ?? '', stringify(props), { source }));
    });

    crm.delete('/crm/v3/objects/:type/:id', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      // Deleting a missing or already-archived object is a 204 in HubSpot too.
      store.archive(requestAccount(req).portalId, type, (req.params as Params).id ?? '', { source });
      return reply.code(204).send();
    });

    crm.post('/crm/v3/objects/:type/merge', async (req, reply) => {
      const type = typeOf(req, reply);
      if (!type) return reply;
      const b = (req.body ?? {}) as { primaryObjectId?: unknown; objectIdToMerge?: unknown };
      return sendMutation(req, reply, store.merge(requestAccount(req).portalId, type, String(b.primaryObjectId ?? ''), String(b.objectIdToMerge ?? ''), { source }));
    });

    crm.post('/crm/v3/objects/contacts/gdpr-delete', async (req, reply) => {
      const b = (req.body ?? {}) as { objectId?: unknown };
      const type = resolveObjectType('contacts') as ObjectTypeDef;
      const r = store.privacyDelete(requestAccount(req).portalId, type, String(b.objectId ?? ''), { source });
      return r.ok ? reply.code(204).send() : reply.code(404).send(notFoundError());
    });

    for (const method of ['PUT', 'DELETE'] as const) {
      crm.route({
        method, url: '/crm/v3/objects/:type/:id/associations/:toType/:toId/:label',
        handler: async (req, reply) => {
          const p = req.params as Params;
          const from = resolveObjectType(p.type);
          const to = resolveObjectType(p.toType ?? '');
          if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
          const portalId = requestAccount(req).portalId;
          const r = method === 'PUT'
            ? store.associate(portalId, from, p.id ?? '', to, p.toId ?? '', { source })
            : store.dissociate(portalId, from, p.id ?? '', to, p.toId ?? '', { source });
          if (!r.ok) return reply.code(404).send(notFoundError());
          if (method === 'DELETE') return reply.code(204).send();
          return toApiObject(store, portalId, r.object, r.object.state, { properties: null, associations: [to.name] });
        },
      });
    }
  });
}

/** By id (following merges), or by a unique property such as `email` when `idProperty` names one. */
function lookup(store: HubSpotStore, portalId: number, type: ObjectTypeDef, key: string, idProperty: string | undefined): StoredObject | undefined {
  if (idProperty === undefined || idProperty === 'hs_object_id') return store.get(portalId, type, key);
  for (const o of store.objects(portalId, type)) {
    if (!o.mergedInto && !o.privacyDeleted && o.state.properties[idProperty] === key) return o;
  }
  return undefined;
}

function stringify(props: Record<string, unknown>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]));
}
