/** The CRM object types the sandbox serves, with the names HubSpot uses for them in paths, webhooks and labels. */
export interface ObjectTypeDef {
  /** Path name, e.g. `contacts`. */
  readonly name: string;
  /** Object type id, e.g. `0-1`. */
  readonly typeId: string;
  /** Singular, used in association labels (`CONTACT_TO_COMPANY`). */
  readonly singular: string;
  /** `contact` for `contact.propertyChange`; null for types that only have the generic `object.*` family. */
  readonly webhookPrefix: string | null;
  readonly lastModifiedProperty: string;
  readonly createdateProperty: string;
  readonly mergeable: boolean;
  /** Returned when a read names no properties. */
  readonly defaultProperties: readonly string[];
  /** Free-text `query` in search looks at these. */
  readonly searchableProperties: readonly string[];
  /** Custom objects: the schema's name and labels (`/crm/v3/schemas`). */
  readonly schema?: { readonly name: string; readonly singular: string; readonly plural: string; readonly primaryDisplayProperty: string };
}

export const OBJECT_TYPES: readonly ObjectTypeDef[] = [
  {
    name: 'contacts', typeId: '0-1', singular: 'contact', webhookPrefix: 'contact',
    lastModifiedProperty: 'lastmodifieddate', createdateProperty: 'createdate', mergeable: true,
    defaultProperties: ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
    searchableProperties: ['email', 'firstname', 'lastname', 'phone', 'company'],
  },
  {
    name: 'companies', typeId: '0-2', singular: 'company', webhookPrefix: 'company',
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'createdate', mergeable: true,
    defaultProperties: ['createdate', 'domain', 'hs_lastmodifieddate', 'hs_object_id', 'name'],
    searchableProperties: ['name', 'domain', 'website', 'phone'],
  },
  {
    name: 'deals', typeId: '0-3', singular: 'deal', webhookPrefix: 'deal',
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'createdate', mergeable: false,
    defaultProperties: ['amount', 'closedate', 'createdate', 'dealname', 'dealstage', 'hs_lastmodifieddate', 'hs_object_id', 'pipeline'],
    searchableProperties: ['dealname'],
  },
  {
    name: 'tickets', typeId: '0-5', singular: 'ticket', webhookPrefix: 'ticket',
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'createdate', mergeable: false,
    defaultProperties: ['content', 'createdate', 'hs_lastmodifieddate', 'hs_object_id', 'hs_pipeline', 'hs_pipeline_stage', 'hs_ticket_category', 'hs_ticket_priority', 'subject'],
    searchableProperties: ['subject', 'content'],
  },
  {
    name: 'products', typeId: '0-7', singular: 'product', webhookPrefix: 'product',
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'createdate', mergeable: false,
    defaultProperties: ['createdate', 'description', 'hs_lastmodifieddate', 'hs_object_id', 'name', 'price'],
    searchableProperties: ['name', 'description', 'hs_sku'],
  },
  {
    name: 'line_items', typeId: '0-8', singular: 'line_item', webhookPrefix: 'line_item',
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'createdate', mergeable: false,
    defaultProperties: ['createdate', 'hs_lastmodifieddate', 'hs_object_id', 'hs_product_id', 'name', 'price', 'quantity'],
    searchableProperties: ['name'],
  },
  {
    name: 'quotes', typeId: '0-14', singular: 'quote', webhookPrefix: null,
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'hs_createdate', mergeable: false,
    defaultProperties: ['hs_createdate', 'hs_expiration_date', 'hs_lastmodifieddate', 'hs_object_id', 'hs_public_url_key', 'hs_status', 'hs_title'],
    searchableProperties: ['hs_title'],
  },
  // Engagements: only the generic `object.*` webhooks exist for them.
  ...(['tasks:0-27:task:hs_task_subject', 'notes:0-46:note:hs_note_body', 'meetings:0-47:meeting:hs_meeting_title', 'calls:0-48:call:hs_call_title', 'emails:0-49:email:hs_email_subject'] as const).map((spec): ObjectTypeDef => {
    const [name, typeId, singular, title] = spec.split(':') as [string, string, string, string];
    return {
      name, typeId, singular, webhookPrefix: null,
      lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'hs_createdate', mergeable: false,
      defaultProperties: ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
      searchableProperties: [title],
    };
  }),
  {
    name: 'p_projects', typeId: '2-3465', singular: 'project', webhookPrefix: null,
    lastModifiedProperty: 'hs_lastmodifieddate', createdateProperty: 'hs_createdate', mergeable: false,
    defaultProperties: ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    searchableProperties: ['name'],
    schema: { name: 'projects', singular: 'Project', plural: 'Projects', primaryDisplayProperty: 'name' },
  },
];

/** Resolves a path segment the way HubSpot does: by name, type id or singular, case-insensitive. */
export function resolveObjectType(segment: string): ObjectTypeDef | undefined {
  const s = segment.toLowerCase();
  return OBJECT_TYPES.find((t) => t.name === s || t.typeId === s || t.singular === s);
}

export function associationLabel(from: ObjectTypeDef, to: ObjectTypeDef): string {
  return `${from.singular.toUpperCase()}_TO_${to.singular.toUpperCase()}`;
}
