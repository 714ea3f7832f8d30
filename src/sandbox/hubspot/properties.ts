/**
 * The properties API's view of a portal: every object type has its HubSpot-defined properties (system ones,
 * read-only analytics, calculated stage timings) and, as real portals do, hundreds of custom ones with long
 * names. Definitions have the shape of `GET /crm/v3/properties/{objectType}` (`@hubspot/api-client`'s
 * `crm.properties` `Property` model). Generated deterministically, so two sandboxes list the same names.
 */
import type { ObjectTypeDef } from './object-types.ts';

export interface PropertyOption {
  label: string;
  value: string;
  displayOrder: number;
  hidden: boolean;
}

/** One property as the API lists it. */
export interface PropertyDefinition {
  name: string;
  label: string;
  type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool';
  fieldType: 'text' | 'textarea' | 'number' | 'date' | 'select' | 'radio' | 'checkbox' | 'booleancheckbox' | 'calculation_equation';
  description: string;
  groupName: string;
  options: PropertyOption[];
  displayOrder: number;
  calculated: boolean;
  externalOptions: boolean;
  hasUniqueValue: boolean;
  hidden: boolean;
  hubspotDefined?: boolean;
  modificationMetadata: { archivable: boolean; readOnlyDefinition: boolean; readOnlyValue: boolean; readOnlyOptions?: boolean };
  formField: boolean;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
  calculationFormula?: string;
  showCurrencySymbol?: boolean;
}

/** Per object type (name or id), how many custom properties a portal has beyond HubSpot's own. */
export type CustomPropertyCounts = Readonly<Partial<Record<string, number>>>;

/** Custom properties per type when the sandbox is not told otherwise: a portal some years in use. */
export const DEFAULT_CUSTOM_PROPERTIES: CustomPropertyCounts = {
  contacts: 220, companies: 140, deals: 110, tickets: 60, products: 20, line_items: 20, quotes: 15,
  calls: 12, emails: 8, meetings: 10, notes: 6, tasks: 10, p_projects: 25,
};

const UNIVERSAL = [
  'hs_all_accessible_team_ids', 'hs_all_owner_ids', 'hs_all_team_ids', 'hs_created_by_user_id', 'hs_object_source',
  'hs_object_source_detail_1', 'hs_object_source_id', 'hs_object_source_label', 'hs_object_source_user_id', 'hs_read_only',
  'hs_shared_team_ids', 'hs_shared_user_ids', 'hs_unique_creation_key', 'hs_updated_by_user_id', 'hs_user_ids_of_all_owners',
  'hs_was_imported', 'hubspot_owner_assigneddate', 'hubspot_owner_id', 'hubspot_team_id',
];

/** HubSpot's own properties per type (a representative set of the real names). */
const HUBSPOT_DEFINED: Readonly<Record<string, readonly string[]>> = {
  contacts: [
    'address', 'annualrevenue', 'city', 'company', 'company_size', 'country', 'currentlyinworkflow', 'date_of_birth', 'degree',
    'email', 'fax', 'field_of_study', 'first_conversion_date', 'first_conversion_event_name', 'first_deal_created_date', 'firstname',
    'gender', 'graduation_date', 'hs_analytics_average_page_views', 'hs_analytics_first_referrer', 'hs_analytics_first_timestamp',
    'hs_analytics_first_url', 'hs_analytics_last_referrer', 'hs_analytics_last_timestamp', 'hs_analytics_last_url',
    'hs_analytics_num_event_completions', 'hs_analytics_num_page_views', 'hs_analytics_num_visits', 'hs_analytics_source',
    'hs_analytics_source_data_1', 'hs_analytics_source_data_2', 'hs_buying_role', 'hs_content_membership_status', 'hs_email_bounce',
    'hs_email_click', 'hs_email_delivered', 'hs_email_domain', 'hs_email_first_open_date', 'hs_email_last_open_date', 'hs_email_open',
    'hs_email_optout', 'hs_email_sends_since_last_engagement', 'hs_language', 'hs_latest_source', 'hs_latest_source_timestamp',
    'hs_lead_status', 'hs_marketable_status', 'hs_persona', 'hs_predictivecontactscore_v2', 'hs_sequences_is_enrolled',
    'hs_social_facebook_clicks', 'hs_social_linkedin_clicks', 'hs_social_twitter_clicks', 'hs_timezone', 'hs_whatsapp_phone_number',
    'industry', 'ip_city', 'ip_country', 'jobtitle', 'lastname', 'lifecyclestage', 'marital_status', 'message', 'mobilephone',
    'notes_last_contacted', 'notes_last_updated', 'num_associated_deals', 'num_contacted_notes', 'num_conversion_events', 'num_notes',
    'phone', 'recent_conversion_date', 'recent_deal_amount', 'salutation', 'school', 'seniority', 'state', 'total_revenue', 'website',
    'work_email', 'zip',
  ],
  companies: [
    'about_us', 'address', 'address2', 'annualrevenue', 'city', 'country', 'description', 'domain', 'facebook_company_page',
    'founded_year', 'hs_analytics_first_timestamp', 'hs_analytics_num_page_views', 'hs_analytics_source', 'hs_is_target_account',
    'hs_lead_status', 'hs_num_child_companies', 'hs_num_open_deals', 'hs_parent_company_id', 'hs_total_deal_value', 'industry',
    'is_public', 'lifecyclestage', 'linkedin_company_page', 'name', 'num_associated_contacts', 'num_associated_deals',
    'numberofemployees', 'phone', 'state', 'timezone', 'total_money_raised', 'total_revenue', 'twitterhandle', 'type',
    'web_technologies', 'website', 'zip',
  ],
  deals: [
    'amount', 'amount_in_home_currency', 'closed_lost_reason', 'closed_won_reason', 'closedate', 'days_to_close', 'dealname',
    'dealstage', 'dealtype', 'description', 'hs_acv', 'hs_arr', 'hs_deal_stage_probability', 'hs_forecast_amount',
    'hs_forecast_probability', 'hs_is_closed', 'hs_is_closed_won', 'hs_mrr', 'hs_next_step', 'hs_priority', 'hs_projected_amount',
    'hs_tcv', 'num_associated_contacts', 'num_contacted_notes', 'num_notes', 'pipeline',
  ],
  tickets: [
    'closed_date', 'content', 'first_agent_reply_date', 'hs_num_times_contacted', 'hs_pipeline', 'hs_pipeline_stage', 'hs_resolution',
    'hs_ticket_category', 'hs_ticket_id', 'hs_ticket_priority', 'last_reply_date', 'num_notes', 'source_type', 'subject',
    'time_to_close', 'time_to_first_agent_reply',
  ],
  products: ['description', 'hs_cost_of_goods_sold', 'hs_product_type', 'hs_recurring_billing_period', 'hs_sku', 'name', 'price'],
  line_items: [
    'amount', 'discount', 'hs_discount_percentage', 'hs_product_id', 'hs_recurring_billing_period', 'hs_sku', 'hs_term_in_months',
    'name', 'price', 'quantity',
  ],
  quotes: [
    'hs_currency', 'hs_expiration_date', 'hs_language', 'hs_public_url_key', 'hs_quote_amount', 'hs_sender_email', 'hs_sender_firstname',
    'hs_status', 'hs_title',
  ],
  calls: [
    'hs_call_body', 'hs_call_direction', 'hs_call_disposition', 'hs_call_duration', 'hs_call_from_number', 'hs_call_recording_url',
    'hs_call_status', 'hs_call_title', 'hs_call_to_number', 'hs_timestamp',
  ],
  emails: ['hs_email_direction', 'hs_email_headers', 'hs_email_html', 'hs_email_status', 'hs_email_subject', 'hs_email_text', 'hs_timestamp'],
  meetings: [
    'hs_internal_meeting_notes', 'hs_meeting_body', 'hs_meeting_end_time', 'hs_meeting_location', 'hs_meeting_outcome',
    'hs_meeting_start_time', 'hs_meeting_title', 'hs_timestamp',
  ],
  notes: ['hs_attachment_ids', 'hs_note_body', 'hs_timestamp'],
  tasks: ['hs_task_body', 'hs_task_priority', 'hs_task_status', 'hs_task_subject', 'hs_task_type', 'hs_timestamp'],
  p_projects: ['budget', 'name', 'status'],
};

/** Pipeline or lifecycle stages whose entry, exit and time-in HubSpot calculates per record. */
const STAGES: Readonly<Record<string, readonly string[]>> = {
  contacts: ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer', 'evangelist', 'other'],
  companies: ['lead', 'opportunity', 'customer'],
  deals: ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin', 'contractsent', 'closedwon', 'closedlost'],
  tickets: ['1', '2', '3', '4'],
};

const OPTIONS: Readonly<Record<string, readonly string[]>> = {
  lifecyclestage: STAGES['contacts'] ?? [],
  dealstage: STAGES['deals'] ?? [],
  hs_lead_status: ['NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED', 'BAD_TIMING'],
  hs_ticket_priority: ['LOW', 'MEDIUM', 'HIGH'],
  industry: ['SOFTWARE', 'RETAIL', 'BANKING', 'LOGISTICS'],
  hs_task_status: ['NOT_STARTED', 'IN_PROGRESS', 'WAITING', 'COMPLETED'],
  hs_call_direction: ['INBOUND', 'OUTBOUND'],
};

const CUSTOM_WORDS = [
  'customer', 'success', 'onboarding', 'milestone', 'renewal', 'contract', 'partner', 'region', 'territory', 'account',
  'manager', 'implementation', 'health', 'score', 'quarterly', 'business', 'review', 'legacy', 'billing', 'system',
  'identifier', 'preferred', 'communication', 'channel', 'marketing', 'attribution', 'campaign', 'segment', 'product',
  'usage', 'last', 'activity', 'verified', 'compliance', 'consent', 'status',
];

/** Every property of a type in a portal that has `custom` custom properties. */
export function propertyDefinitions(type: ObjectTypeDef, custom: number): PropertyDefinition[] {
  const defs = new Map<string, PropertyDefinition>();
  const add = (def: PropertyDefinition) => {
    if (!defs.has(def.name)) defs.set(def.name, { ...def, displayOrder: def.displayOrder >= 0 ? def.displayOrder : defs.size });
  };
  const system = ['hs_object_id', type.createdateProperty, type.lastModifiedProperty, ...(type.mergeable ? ['hs_merged_object_ids'] : [])];
  for (const name of system) add(hubspotProperty(name, type, { readOnlyValue: true }));
  for (const name of [...(HUBSPOT_DEFINED[type.name] ?? []), ...type.defaultProperties, ...UNIVERSAL]) {
    add(hubspotProperty(name, type, { readOnlyValue: /^(hs_analytics_|hs_object_source|hs_created_by|hs_updated_by|num_|hs_was_imported|hs_unique)/.test(name) }));
  }
  for (const stage of STAGES[type.name] ?? []) {
    for (const [prefix, label] of [['hs_v2_date_entered_', 'Date entered'], ['hs_v2_date_exited_', 'Date exited'], ['hs_v2_latest_time_in_', 'Latest time in'], ['hs_v2_cumulative_time_in_', 'Cumulative time in']] as const) {
      const timing = prefix.includes('time_in');
      add({
        ...hubspotProperty(`${prefix}${stage}`, type, { readOnlyValue: true }),
        label: `${label} "${stage}"`,
        type: timing ? 'number' : 'datetime',
        fieldType: timing ? 'calculation_equation' : 'date',
        calculated: true,
        ...(timing ? { calculationFormula: `time_between(hs_v2_date_entered_${stage}, hs_v2_date_exited_${stage})` } : {}),
      });
    }
  }
  for (let i = 0; i < custom; i++) add(customProperty(type, i));
  return [...defs.values()];
}

const EPOCH = '2019-06-01T09:00:00.000Z';

function hubspotProperty(name: string, type: ObjectTypeDef, o: { readOnlyValue: boolean }): PropertyDefinition {
  const { kind, fieldType } = kindOf(name);
  const options = (OPTIONS[name] ?? []).map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false }));
  return {
    name,
    label: name.replace(/^hs_/, '').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()),
    type: options.length > 0 ? 'enumeration' : kind,
    fieldType: options.length > 0 ? 'select' : fieldType,
    description: `HubSpot-defined ${type.singular} property.`,
    groupName: `${type.singular}information`,
    options,
    displayOrder: -1,
    calculated: /^(days_to_close|amount_in_home_currency|hs_is_closed|time_to_)/.test(name),
    externalOptions: false,
    hasUniqueValue: name === 'hs_object_id' || name === 'hs_unique_creation_key',
    hidden: false,
    hubspotDefined: true,
    modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: o.readOnlyValue },
    formField: !o.readOnlyValue && kind !== 'datetime',
    createdAt: EPOCH,
    updatedAt: EPOCH,
    archived: false,
  };
}

/** Custom properties have long, descriptive names, as accreted by years of portal use. */
function customProperty(type: ObjectTypeDef, i: number): PropertyDefinition {
  const words = Array.from({ length: 5 + (i % 6) }, (_, k) => CUSTOM_WORDS[(i * 7 + k * 11 + type.name.length) % CUSTOM_WORDS.length]);
  const name = `${words.join('_')}_${String(i).padStart(3, '0')}`;
  const kinds = [['string', 'text'], ['number', 'number'], ['date', 'date'], ['enumeration', 'select'], ['bool', 'booleancheckbox']] as const;
  const [kind, fieldType] = kinds[i % kinds.length]!;
  const stamp = new Date(Date.parse(EPOCH) + i * 86_400_000).toISOString();
  return {
    name,
    label: words.join(' ').replace(/^./, (c) => c.toUpperCase()),
    type: kind,
    fieldType,
    description: '',
    groupName: `${type.singular}information`,
    options: kind === 'enumeration' ? ['gold', 'silver', 'bronze'].map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false }))
      : kind === 'bool' ? [{ label: 'Yes', value: 'true', displayOrder: 0, hidden: false }, { label: 'No', value: 'false', displayOrder: 1, hidden: false }] : [],
    displayOrder: -1,
    calculated: false,
    externalOptions: false,
    hasUniqueValue: false,
    hidden: false,
    modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
    formField: true,
    createdAt: stamp,
    updatedAt: stamp,
    archived: false,
  };
}

/** A sample value a property accepts: what seeding writes into every custom property. */
export function sampleValue(def: PropertyDefinition, seed: number): string {
  switch (def.type) {
    case 'number': return String(seed % 1000);
    case 'date': return new Date(Date.UTC(2026, seed % 12, 1 + (seed % 28))).toISOString().slice(0, 10);
    case 'datetime': return new Date(Date.UTC(2026, seed % 12, 1 + (seed % 28), 12)).toISOString();
    case 'bool': return seed % 2 === 0 ? 'true' : 'false';
    case 'enumeration': return def.options[seed % Math.max(1, def.options.length)]?.value ?? 'gold';
    default: return `${def.name.slice(0, 12)} ${seed} ✓`;
  }
}

function kindOf(name: string): { kind: PropertyDefinition['type']; fieldType: PropertyDefinition['fieldType'] } {
  if (/(date|timestamp|_time$|start_time|end_time)/.test(name) && !/^hs_v2_.*time_in/.test(name)) return { kind: 'datetime', fieldType: 'date' };
  if (/^(num_|hs_num_)|amount|price|revenue|quantity|discount|employees|_count$|duration|probability|score|hs_acv|hs_arr|hs_mrr|hs_tcv|_year$|_money_|hs_object_id$/.test(name)) {
    return { kind: 'number', fieldType: 'number' };
  }
  if (/^(hs_is_|is_|hs_was_|hs_read_only|currentlyinworkflow|hs_sequences_is_enrolled)/.test(name)) return { kind: 'bool', fieldType: 'booleancheckbox' };
  if (/(body|content|description|message|about_us|html|text|notes)/.test(name)) return { kind: 'string', fieldType: 'textarea' };
  return { kind: 'string', fieldType: 'text' };
}

/**
 * One portal's properties per type: built on first use, extended when a record is written with a name the
 * type does not have (HubSpot's API would refuse the write; the sandbox's seeding is lenient and keeps the
 * catalog truthful instead), or when a property is created through the API.
 */
export class PortalProperties {
  readonly #byType = new Map<string, Map<string, PropertyDefinition>>();
  readonly #custom: (type: ObjectTypeDef) => number;
  readonly #now: () => number;

  constructor(custom: (type: ObjectTypeDef) => number, now: () => number) {
    this.#custom = custom;
    this.#now = now;
  }

  #of(type: ObjectTypeDef): Map<string, PropertyDefinition> {
    let defs = this.#byType.get(type.name);
    if (!defs) this.#byType.set(type.name, (defs = new Map(propertyDefinitions(type, this.#custom(type)).map((d) => [d.name, d]))));
    return defs;
  }

  list(type: ObjectTypeDef): PropertyDefinition[] {
    return [...this.#of(type).values()];
  }

  get(type: ObjectTypeDef, name: string): PropertyDefinition | undefined {
    return this.#of(type).get(name);
  }

  has(type: ObjectTypeDef, name: string): boolean {
    return this.#of(type).has(name);
  }

  /** Creates a property (a plain text one unless told otherwise); undefined when the name exists. */
  create(type: ObjectTypeDef, input: Partial<PropertyDefinition> & { name: string }): PropertyDefinition | undefined {
    const defs = this.#of(type);
    if (defs.has(input.name)) return undefined;
    const stamp = new Date(this.#now()).toISOString();
    const def: PropertyDefinition = {
      label: input.name, type: 'string', fieldType: 'text', description: '', groupName: `${type.singular}information`, options: [],
      calculated: false, externalOptions: false, hasUniqueValue: false, hidden: false, formField: true, archived: false,
      modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
      ...input, displayOrder: defs.size, createdAt: stamp, updatedAt: stamp,
    };
    defs.set(def.name, def);
    return def;
  }

  /** Registers names a write used that the type lacks. */
  registerWritten(type: ObjectTypeDef, names: Iterable<string>): void {
    for (const name of names) if (!this.has(type, name)) this.create(type, { name });
  }
}
