/**
 * HubSpot's CRM object types: one table, so every part of hubsync (configuration, webhooks,
 * polling, the mirror, the ledger, reports) names a type the same way. Imports nothing: the
 * configuration checks object types against it.
 *
 * The key hubsync stores for a type is its CRM v3 plural name for HubSpot's own types
 * (`contacts`, `line_items`, `calls`) and the object type id for custom objects (`2-3465`), whose
 * names belong to one portal and can change.
 */

export interface ObjectTypeInfo {
  /** Object type id: `0-1`. */
  readonly id: string;
  /** CRM v3 path name, and hubsync's key for the type: `contacts`. */
  readonly name: string;
  /** `contact`; also the upper-case word of association labels (`CONTACT_TO_COMPANY`). */
  readonly singular: string;
  /** Prefix of the classic Webhooks API subscription types (`contact.propertyChange`); null where only `object.*` exists. */
  readonly webhookPrefix: string | null;
}

/** HubSpot's object type ids and names (developers.hubspot.com, "Using the object APIs"). */
export const OBJECT_TYPES: readonly ObjectTypeInfo[] = [
  { id: '0-1', name: 'contacts', singular: 'contact', webhookPrefix: 'contact' },
  { id: '0-2', name: 'companies', singular: 'company', webhookPrefix: 'company' },
  { id: '0-3', name: 'deals', singular: 'deal', webhookPrefix: 'deal' },
  { id: '0-5', name: 'tickets', singular: 'ticket', webhookPrefix: 'ticket' },
  { id: '0-7', name: 'products', singular: 'product', webhookPrefix: 'product' },
  { id: '0-8', name: 'line_items', singular: 'line_item', webhookPrefix: 'line_item' },
  { id: '0-14', name: 'quotes', singular: 'quote', webhookPrefix: null },
  { id: '0-18', name: 'communications', singular: 'communication', webhookPrefix: null },
  { id: '0-19', name: 'feedback_submissions', singular: 'feedback_submission', webhookPrefix: null },
  { id: '0-27', name: 'tasks', singular: 'task', webhookPrefix: null },
  { id: '0-46', name: 'notes', singular: 'note', webhookPrefix: null },
  { id: '0-47', name: 'meetings', singular: 'meeting', webhookPrefix: null },
  { id: '0-48', name: 'calls', singular: 'call', webhookPrefix: null },
  { id: '0-49', name: 'emails', singular: 'email', webhookPrefix: null },
  { id: '0-53', name: 'invoices', singular: 'invoice', webhookPrefix: null },
  { id: '0-54', name: 'marketing_events', singular: 'marketing_event', webhookPrefix: null },
  { id: '0-69', name: 'subscriptions', singular: 'subscription', webhookPrefix: null },
  { id: '0-74', name: 'goal_targets', singular: 'goal_target', webhookPrefix: null },
  { id: '0-84', name: 'discounts', singular: 'discount', webhookPrefix: null },
  { id: '0-85', name: 'fees', singular: 'fee', webhookPrefix: null },
  { id: '0-86', name: 'taxes', singular: 'tax', webhookPrefix: null },
  { id: '0-101', name: 'payments', singular: 'payment', webhookPrefix: null },
  { id: '0-115', name: 'users', singular: 'user', webhookPrefix: null },
  { id: '0-116', name: 'postal_mail', singular: 'postal_mail', webhookPrefix: null },
  { id: '0-123', name: 'orders', singular: 'order', webhookPrefix: null },
  { id: '0-136', name: 'leads', singular: 'lead', webhookPrefix: null },
  { id: '0-142', name: 'carts', singular: 'cart', webhookPrefix: null },
  { id: '0-162', name: 'services', singular: 'service', webhookPrefix: null },
  { id: '0-410', name: 'courses', singular: 'course', webhookPrefix: null },
  { id: '0-420', name: 'listings', singular: 'listing', webhookPrefix: null },
  { id: '0-421', name: 'appointments', singular: 'appointment', webhookPrefix: null },
  { id: '0-970', name: 'projects', singular: 'project', webhookPrefix: null },
];

const BY_ALIAS = new Map<string, ObjectTypeInfo>();
for (const type of OBJECT_TYPES) for (const alias of [type.id, type.name, type.singular]) BY_ALIAS.set(alias, type);

/**
 * HubSpot's default association pairs among its own types: a job's associations default to these
 * among the types its portal's jobs mirror. Custom objects' pairs are listed in the configuration.
 */
export const STANDARD_ASSOCIATIONS: Readonly<Record<string, readonly string[]>> = {
  contacts: ['companies', 'deals', 'tickets'],
  companies: ['contacts', 'deals', 'tickets'],
  deals: ['contacts', 'companies', 'tickets', 'line_items'],
  tickets: ['contacts', 'companies', 'deals'],
  line_items: ['deals'],
};

/** A custom object's type id: `2-` and digits. */
export const CUSTOM_TYPE_ID = /^2-\d+$/;

/** HubSpot's own type for an id, plural or singular name (any case); undefined for custom and unknown types. */
export function standardObjectType(nameOrId: string): ObjectTypeInfo | undefined {
  return BY_ALIAS.get(nameOrId.toLowerCase());
}

/** A custom object's short name (`p_cars`) or fully qualified name (`p12345_cars`), which API paths accept too. */
const CUSTOM_TYPE_NAME = /^p\d*_[a-z][a-z0-9_]*$/i;

/**
 * Why `nameOrId` names no HubSpot object type, or undefined when it does: one of HubSpot's own
 * types by id, plural or singular, or a custom object by type id or `p_` name (whether that custom
 * object exists is for the schemas API to say). A near miss gets a suggestion.
 */
export function objectTypeProblem(nameOrId: string): string | undefined {
  if (standardObjectType(nameOrId) || CUSTOM_TYPE_ID.test(nameOrId) || CUSTOM_TYPE_NAME.test(nameOrId)) return undefined;
  const word = nameOrId.toLowerCase();
  const near = OBJECT_TYPES.find((type) => editDistance(word, type.name) <= 2 || editDistance(word, type.singular) <= 2);
  return `${JSON.stringify(nameOrId)} is not a HubSpot object type${near ? ` (did you mean ${near.name}?)` : ''}; use a type name (contacts), its id (0-1), or a custom object's type id (2-123) or name (p_cars)`;
}

/** Levenshtein distance, for suggestions between short names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * hubsync's key for a type: `contact`, `CONTACTS` and `0-1` all give `contacts`; a custom type
 * id (`2-123`) and anything unknown stay as they are (custom names are resolved per portal,
 * through the schemas API).
 */
export function objectTypeName(nameOrId: string): string {
  return standardObjectType(nameOrId)?.name ?? nameOrId;
}

/**
 * The label HubSpot's classic webhooks give the association of two types, from the first's side:
 * `CONTACT_TO_COMPANY`. A custom type stands as its id (`COMPANY_TO_2-3465`): its name belongs to
 * one portal and may change.
 */
export function associationLabel(fromType: string, toType: string): string {
  const word = (type: string) => (standardObjectType(type)?.singular ?? type).toUpperCase();
  return `${word(fromType)}_TO_${word(toType)}`;
}

/** The two type words of an association label: `LINE_ITEM_TO_DEAL` → [`LINE_ITEM`, `DEAL`]; undefined when it has no `_TO_`. */
export function associationLabelWords(label: string): [string, string] | undefined {
  const at = label.toUpperCase().indexOf('_TO_');
  return at > 0 ? [label.slice(0, at), label.slice(at + 4)] : undefined;
}

/** Contacts use `lastmodifieddate`; every other object `hs_lastmodifieddate`. */
export function lastModifiedProperty(objectType: string): string {
  return objectType === 'contacts' ? 'lastmodifieddate' : 'hs_lastmodifieddate';
}
