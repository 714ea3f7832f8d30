import type { SubscriptionOptions } from './webhook-events.ts';

const WATCHED: Record<string, string[]> = {
  contact: ['email', 'firstname', 'lastname', 'phone', 'lifecyclestage', 'company', 'city'],
  company: ['name', 'domain', 'industry', 'numberofemployees'],
  deal: ['dealname', 'amount', 'dealstage', 'pipeline', 'closedate'],
  ticket: ['subject', 'content', 'hs_pipeline', 'hs_pipeline_stage', 'hs_ticket_priority'],
};

/**
 * A subscription set covering everything the change stream produces: lifecycle events for the standard types,
 * property changes of the generated properties, and the generic `object.*` family for the custom object.
 */
export function defaultSubscriptions(): SubscriptionOptions[] {
  const subs: SubscriptionOptions[] = [];
  for (const [prefix, props] of Object.entries(WATCHED)) {
    for (const action of ['creation', 'deletion', 'restore', 'associationChange']) subs.push({ subscriptionType: `${prefix}.${action}` });
    if (prefix === 'contact' || prefix === 'company') subs.push({ subscriptionType: `${prefix}.merge` });
    for (const propertyName of props) subs.push({ subscriptionType: `${prefix}.propertyChange`, propertyName });
  }
  subs.push({ subscriptionType: 'contact.privacyDeletion' });
  for (const action of ['creation', 'deletion', 'restore']) subs.push({ subscriptionType: `object.${action}`, objectTypeId: '2-3465' });
  for (const propertyName of ['name', 'status', 'budget']) subs.push({ subscriptionType: 'object.propertyChange', objectTypeId: '2-3465', propertyName });
  return subs;
}
