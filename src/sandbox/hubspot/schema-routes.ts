import type { FastifyInstance } from 'fastify';
import { requestAccount } from './crm-auth.ts';
import { notFoundError } from './errors.ts';
import { OBJECT_TYPES, type ObjectTypeDef } from './object-types.ts';
import { associationTypeId } from './association-routes.ts';

const CREATED = '2026-01-05T10:00:00.000Z';

/** A custom object's schema as `GET /crm/v3/schemas` answers it (the fields the SDK's ObjectSchema models). */
function schemaOf(type: ObjectTypeDef, portalId: number): Record<string, unknown> | undefined {
  const s = type.schema;
  if (!s) return undefined;
  const property = (name: string) => ({
    name, label: name[0]!.toUpperCase() + name.slice(1), type: 'string', fieldType: 'text', groupName: `${s.name}_information`,
    description: '', options: [], hubspotDefined: false,
  });
  return {
    id: type.typeId.split('-')[1], name: s.name, labels: { singular: s.singular, plural: s.plural },
    objectTypeId: type.typeId, fullyQualifiedName: `p${portalId}_${s.name}`,
    primaryDisplayProperty: s.primaryDisplayProperty, requiredProperties: [s.primaryDisplayProperty],
    searchableProperties: [...type.searchableProperties], secondaryDisplayProperties: [],
    properties: ['name', 'status', 'budget'].map(property),
    // The schema was created with `associatedObjects: [CONTACT, COMPANY, DEAL, TICKET]`.
    associations: OBJECT_TYPES.filter((t) => ['contacts', 'companies', 'deals', 'tickets'].includes(t.name)).map((to) => ({
      id: String(associationTypeId(type, to)), fromObjectTypeId: type.typeId, toObjectTypeId: to.typeId,
      name: `${s.name.toUpperCase()}_TO_${to.singular.toUpperCase()}`, createdAt: CREATED, updatedAt: CREATED,
    })),
    archived: false, createdAt: CREATED, updatedAt: CREATED,
  };
}

/**
 * Custom object schemas, read-only: `GET /crm/v3/schemas[/{objectType}]` and the same under
 * `/crm-object-schemas/v3/schemas`, the path `@hubspot/api-client` v14 calls.
 */
export function registerSchemaRoutes(crm: FastifyInstance): void {
  for (const base of ['/crm/v3/schemas', '/crm-object-schemas/v3/schemas']) {
    crm.get(base, async (req) => {
      const portalId = requestAccount(req).portalId;
      return { results: OBJECT_TYPES.flatMap((t) => schemaOf(t, portalId) ?? []) };
    });
    crm.get(`${base}/:objectType`, async (req, reply) => {
      const portalId = requestAccount(req).portalId;
      const key = (req.params as { objectType: string }).objectType.toLowerCase();
      const type = OBJECT_TYPES.find((t) => t.schema && [t.typeId, t.name, t.schema.name, `p${portalId}_${t.schema.name}`].includes(key));
      const schema = type && schemaOf(type, portalId);
      return schema ?? reply.code(404).send(notFoundError());
    });
  }
}
