import type { FastifyInstance } from 'fastify';
import { requestAccount } from './crm-auth.ts';
import { notFoundError, validationError } from './errors.ts';
import { resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import type { HubSpotStore } from './store.ts';

/** HubSpot-defined, unlabeled association type ids (v4), by `from_to` singulars. */
const TYPE_IDS: Record<string, number> = {
  contact_company: 279, company_contact: 280, deal_contact: 3, contact_deal: 4, deal_company: 341, company_deal: 342,
  contact_ticket: 15, ticket_contact: 16, ticket_deal: 28, deal_ticket: 27, ticket_company: 339, company_ticket: 340,
};

export function associationTypeId(from: ObjectTypeDef, to: ObjectTypeDef): number {
  return TYPE_IDS[`${from.singular}_${to.singular}`] ?? 0;
}

type Params = { type: string; id: string; toType: string; toId?: string };

/** The CRM v4 association reads and default writes, on the guarded CRM instance. */
export function registerAssociationRoutes(crm: FastifyInstance, store: HubSpotStore): void {
  const spec = (from: ObjectTypeDef, to: ObjectTypeDef) => [{ category: 'HUBSPOT_DEFINED', typeId: associationTypeId(from, to), label: null }];
  const targets = (portalId: number, from: ObjectTypeDef, id: string, to: ObjectTypeDef) =>
    store.associationsOf(portalId, from, id).filter((a) => a.toType === to.name)
      .map((a) => ({ toObjectId: Number(a.toId), associationTypes: spec(from, to) }));

  crm.get('/crm/v4/objects/:type/:id/associations/:toType', async (req, reply) => {
    const p = req.params as Params;
    const from = resolveObjectType(p.type);
    const to = resolveObjectType(p.toType);
    if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
    const portalId = requestAccount(req).portalId;
    const obj = store.get(portalId, from, p.id);
    if (!obj || obj.state.archived) return reply.code(404).send(notFoundError());
    return { results: targets(portalId, from, obj.id, to) };
  });

  crm.post('/crm/v4/associations/:type/:toType/batch/read', async (req, reply) => {
    const p = req.params as Params;
    const from = resolveObjectType(p.type);
    const to = resolveObjectType(p.toType);
    if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
    const inputs = ((req.body ?? {}) as { inputs?: { id?: unknown }[] }).inputs ?? [];
    if (inputs.length > 1000) return reply.code(400).send(validationError('Too many inputs. The maximum is 1000.'));
    const startedAt = new Date().toISOString();
    const portalId = requestAccount(req).portalId;
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const id = String(input?.id ?? '');
      const obj = store.get(portalId, from, id);
      const to_ = obj && !obj.state.archived ? targets(portalId, from, obj.id, to) : [];
      if (to_.length === 0) missing.push(id);
      else results.push({ from: { id }, to: to_ });
    }
    const out: Record<string, unknown> = { status: 'COMPLETE', results, startedAt, completedAt: new Date().toISOString() };
    if (missing.length === 0) return out;
    out['numErrors'] = missing.length;
    out['errors'] = missing.map((id) => ({
      status: 'error', category: 'OBJECT_NOT_FOUND', subCategory: 'crm.associations.NO_ASSOCIATIONS_FOUND',
      message: `No ${to.singular}s are associated with ${from.singular} ${id}.`, context: { fromObjectId: [id] }, errors: [],
    }));
    return reply.code(207).send(out);
  });

  crm.put('/crm/v4/objects/:type/:id/associations/default/:toType/:toId', async (req, reply) => {
    const p = req.params as Params;
    const from = resolveObjectType(p.type);
    const to = resolveObjectType(p.toType);
    if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
    const r = store.associate(requestAccount(req).portalId, from, p.id, to, p.toId ?? '', { source: { changeSource: 'API' } });
    if (!r.ok) return reply.code(404).send(notFoundError());
    const now = new Date().toISOString();
    return {
      status: 'COMPLETE', startedAt: now, completedAt: now,
      results: [{ from: { id: p.id }, to: { id: p.toId }, associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: associationTypeId(from, to) } }],
    };
  });

  crm.delete('/crm/v4/objects/:type/:id/associations/:toType/:toId', async (req, reply) => {
    const p = req.params as Params;
    const from = resolveObjectType(p.type);
    const to = resolveObjectType(p.toType);
    if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
    store.dissociate(requestAccount(req).portalId, from, p.id, to, p.toId ?? '', { source: { changeSource: 'API' } });
    return reply.code(204).send();
  });
}
