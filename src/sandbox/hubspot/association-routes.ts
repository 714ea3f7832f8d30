import type { FastifyInstance } from 'fastify';
import { requestAccount } from './crm-auth.ts';
import { notFoundError, validationError } from './errors.ts';
import { resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import type { HubSpotStore } from './store.ts';

/**
 * Association type ids (v4) of the unlabeled association for each `from_to` pair of singulars:
 * HubSpot's published ids for its own types, portal-made ones (USER_DEFINED) for the custom object.
 */
const TYPE_IDS: Record<string, number> = {
  contact_company: 279, company_contact: 280, deal_contact: 3, contact_deal: 4, deal_company: 341, company_deal: 342,
  contact_ticket: 15, ticket_contact: 16, ticket_deal: 28, deal_ticket: 27, ticket_company: 339, company_ticket: 340,
  project_contact: 91, contact_project: 92, project_company: 93, company_project: 94,
  project_deal: 95, deal_project: 96, project_ticket: 97, ticket_project: 98,
};

export function associationTypeId(from: ObjectTypeDef, to: ObjectTypeDef): number {
  return TYPE_IDS[`${from.singular}_${to.singular}`] ?? 0;
}

/** HubSpot's type ids of the primary label (HUBSPOT_DEFINED): a contact's primary company, and the company's side of it. */
const PRIMARY_TYPE_IDS: Record<string, number> = { contact_company: 1, company_contact: 2 };

/** The v4 type id of a pair's association, its primary label's with `primary` (0 where the pair has none). */
export function labelTypeId(from: ObjectTypeDef, to: ObjectTypeDef, primary: boolean): number {
  return primary ? (PRIMARY_TYPE_IDS[`${from.singular}_${to.singular}`] ?? 0) : associationTypeId(from, to);
}

/** The v4 association types of one edge: the pair's unlabeled type, plus "Primary" for a contact's primary company. */
function associationTypes(from: ObjectTypeDef, to: ObjectTypeDef, primary: boolean): { category: string; typeId: number; label: string | null }[] {
  const category = from.schema || to.schema ? 'USER_DEFINED' : 'HUBSPOT_DEFINED';
  const types = [{ category, typeId: associationTypeId(from, to), label: null as string | null }];
  if (primary && from.name === 'contacts' && to.name === 'companies') types.push({ category: 'HUBSPOT_DEFINED', typeId: labelTypeId(from, to, true), label: 'Primary' });
  return types;
}

type Params = { type: string; id: string; toType: string; toId?: string };

/** The CRM v4 association reads and default writes, on the guarded CRM instance. */
export function registerAssociationRoutes(crm: FastifyInstance, store: HubSpotStore): void {
  /** An object's live associated records of one type, in id order, as v4 `to` entries. */
  const targets = (portalId: number, from: ObjectTypeDef, id: string, to: ObjectTypeDef) => {
    const edges = store.liveAssociationsOf(portalId, from, id, to);
    const primary = store.primaryCompanyOf(portalId, from, id);
    return edges.map((a) => ({ toObjectId: Number(a.toId), associationTypes: associationTypes(from, to, a.toId === primary) }));
  };

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

  // Each input is one object's page of associations (`associationPageSize`, HubSpot's 500); an input
  // with `after` asks for the next page of that object. Objects with no associations, unknown ids
  // and archived ones are errors (207), as HubSpot answers them.
  crm.post('/crm/v4/associations/:type/:toType/batch/read', async (req, reply) => {
    const p = req.params as Params;
    const from = resolveObjectType(p.type);
    const to = resolveObjectType(p.toType);
    if (!from || !to) return reply.code(400).send(validationError('Unknown object type'));
    const inputs = ((req.body ?? {}) as { inputs?: { id?: unknown; after?: unknown }[] }).inputs ?? [];
    if (inputs.length > 1000) return reply.code(400).send(validationError('Too many inputs. The maximum is 1000.'));
    const startedAt = new Date(store.now()).toISOString();
    const portalId = requestAccount(req).portalId;
    const size = store.associationPageSize;
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const id = String(input?.id ?? '');
      const offset = Math.max(0, Number(input?.after ?? 0) || 0);
      const obj = store.get(portalId, from, id);
      const all = obj && !obj.state.archived ? targets(portalId, from, obj.id, to) : [];
      if (all.length === 0) {
        missing.push(id);
        continue;
      }
      const page = all.slice(offset, offset + size);
      const result: Record<string, unknown> = { from: { id: obj!.id }, to: page };
      if (offset + size < all.length) result['paging'] = { next: { after: String(offset + size), link: null } };
      results.push(result);
    }
    const out: Record<string, unknown> = { status: 'COMPLETE', results, startedAt, completedAt: new Date(store.now()).toISOString() };
    if (missing.length === 0) return out;
    out['numErrors'] = missing.length;
    out['errors'] = missing.map((id) => ({
      status: 'error', category: 'OBJECT_NOT_FOUND', subCategory: 'crm.associations.NO_ASSOCIATIONS_FOUND',
      message: `No ${to.singular}s are associated with ${from.singular} ${id}.`, context: { fromObjectId: [id] }, links: {}, errors: [],
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
    const now = new Date(store.now()).toISOString();
    return {
      status: 'COMPLETE', startedAt: now, completedAt: now,
      results: [{ from: { id: p.id }, to: { id: p.toId }, associationSpec: { associationCategory: associationTypes(from, to, false)[0]!.category, associationTypeId: associationTypeId(from, to) } }],
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
