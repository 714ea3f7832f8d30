import type { FastifyInstance } from 'fastify';
import { requestAccount } from './crm-auth.ts';
import { validationError } from './errors.ts';
import { resolveObjectType } from './object-types.ts';
import { toApiObject } from './serialize.ts';
import type { HubSpotStore, StoredObject } from './store.ts';

const BATCH_MAX = 100;
const source = { changeSource: 'API', sourceId: 'sandbox-api' };
type Input = { id?: unknown; properties?: Record<string, unknown> };

const strings = (p: Record<string, unknown> | undefined): Record<string, string | null> =>
  Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]));

/** Batch create, update and archive (≤100 inputs), answered as HubSpot's batch endpoints are. */
export function registerBatchWriteRoutes(crm: FastifyInstance, store: HubSpotStore): void {
  for (const action of ['create', 'update', 'archive'] as const) {
    crm.post(`/crm/v3/objects/:type/batch/${action}`, async (req, reply) => {
      const type = resolveObjectType((req.params as { type: string }).type);
      if (!type) return reply.code(400).send(validationError('Unknown object type'));
      const inputs = ((req.body ?? {}) as { inputs?: Input[] }).inputs ?? [];
      if (inputs.length > BATCH_MAX) return reply.code(400).send(validationError(`Too many inputs: ${inputs.length}. The maximum is ${BATCH_MAX}.`));
      const portalId = requestAccount(req).portalId;
      const startedAt = new Date().toISOString();
      const done: StoredObject[] = [];
      const missing: string[] = [];
      for (const input of inputs) {
        const id = String(input.id ?? '');
        if (action === 'create') {
          done.push(store.create(portalId, type, strings(input.properties), { source }));
          continue;
        }
        const r = action === 'update'
          ? store.update(portalId, type, id, strings(input.properties), { source })
          : store.archive(portalId, type, id, { source });
        if (r.ok) done.push(r.object);
        else missing.push(id);
      }
      if (action === 'archive') return reply.code(204).send();
      const out: Record<string, unknown> = {
        status: 'COMPLETE', startedAt, completedAt: new Date().toISOString(),
        results: done.map((o) => toApiObject(store, portalId, o, o.state, { properties: null })),
      };
      if (missing.length === 0) return reply.code(action === 'create' ? 201 : 200).send(out);
      out['numErrors'] = 1;
      out['errors'] = [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: `Could not update some ${type.singular.toUpperCase()} objects`, context: { ids: missing }, links: {}, errors: [] }];
      return reply.code(207).send(out);
    });
  }
}
