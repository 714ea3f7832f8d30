import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestAccount } from './crm-auth.ts';
import { errorBody, validationError } from './errors.ts';
import { resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import type { PropertyDefinition } from './properties.ts';
import type { HubSpotStore } from './store.ts';

type Params = { type: string; name?: string };

/**
 * The CRM v3 properties API: `GET /crm/v3/properties/{objectType}` (`{results: [...]}`, no paging), one property by
 * name, and creating one. Behind the CRM guards: it needs a token and counts toward the rate limits.
 */
export function registerPropertyRoutes(crm: FastifyInstance, store: HubSpotStore): void {
  const typeOf = (req: FastifyRequest, reply: FastifyReply): ObjectTypeDef | undefined => {
    const t = resolveObjectType((req.params as Params).type);
    if (!t) void reply.code(400).send(errorBody(`Unable to infer object type from: ${(req.params as Params).type}`, 'VALIDATION_ERROR'));
    return t;
  };

  crm.get('/crm/v3/properties/:type', async (req, reply) => {
    const type = typeOf(req, reply);
    if (!type) return reply;
    const archived = (req.query as Record<string, string | undefined>)['archived'] === 'true';
    return { results: store.properties(requestAccount(req).portalId).list(type).filter((p) => p.archived === archived) };
  });

  crm.get('/crm/v3/properties/:type/:name', async (req, reply) => {
    const type = typeOf(req, reply);
    if (!type) return reply;
    const name = (req.params as Params).name ?? '';
    const def = store.properties(requestAccount(req).portalId).get(type, name);
    return def ?? reply.code(404).send(errorBody(`Property ${name} does not exist`, 'OBJECT_NOT_FOUND'));
  });

  crm.post('/crm/v3/properties/:type', async (req, reply) => {
    const type = typeOf(req, reply);
    if (!type) return reply;
    const b = (req.body ?? {}) as Partial<PropertyDefinition>;
    const missing = (['name', 'label', 'type', 'fieldType', 'groupName'] as const).filter((k) => typeof b[k] !== 'string' || b[k] === '');
    if (missing.length > 0) return reply.code(400).send(validationError(`Missing required fields: ${missing.join(', ')}`));
    const created = store.properties(requestAccount(req).portalId).create(type, { ...b, name: b.name! });
    if (!created) return reply.code(409).send(errorBody(`A property named '${b.name}' already exists.`, 'OBJECT_ALREADY_EXISTS'));
    return reply.code(201).send(created);
  });
}
