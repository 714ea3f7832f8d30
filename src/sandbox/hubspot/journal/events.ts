/**
 * What a CRM change writes into an app's journal: one event per matching subscription kind, in
 * the shapes public clients have seen (`{type, portalId, occurredAt, action, objectTypeId,
 * objectId, propertyChanges}`). Where the docs leave a field open, `JournalVariants` picks one of
 * the plausible forms, so a client can be tested against each.
 */
import type { ChangeEvent } from '../changes.ts';
import { labelTypeId } from '../association-routes.ts';
import { resolveObjectType } from '../object-types.ts';
import { passesFilters, type Action, type JournalSubscription } from './subscriptions.ts';

export interface JournalVariants {
  /** `occurredAt` as an ISO string (what live clients report) or epoch ms. */
  occurredAt: 'iso' | 'epoch';
  /**
   * Association events as `fromObjectId/toObjectId/associationTypeId` (the v4 guide) or as
   * `objectId/associatedObjectId/associationType` (another public client's types).
   */
  associationFields: 'fromTo' | 'associated';
  /** Nothing newer than an offset: 204, or 200 with an empty body (batch: an empty `results`). */
  caughtUp: '204' | 'empty';
}

export const DEFAULT_VARIANTS: JournalVariants = { occurredAt: 'iso', associationFields: 'fromTo', caughtUp: '204' };

export type JournalEvent = Record<string, unknown> & { portalId: number };

const ACTION_OF: Partial<Record<ChangeEvent['kind'], Action>> = {
  creation: 'CREATE', propertyChange: 'UPDATE', deletion: 'DELETE', restore: 'RESTORE', merge: 'MERGE',
};

/** The events one change writes for one app's subscriptions (at most one per subscription type). */
export function journalEventsFor(subscriptions: readonly JournalSubscription[], change: ChangeEvent, variants: JournalVariants): JournalEvent[] {
  const type = resolveObjectType(change.objectType);
  if (!type) return [];
  const occurredAt = variants.occurredAt === 'iso' ? new Date(change.at).toISOString() : change.at;
  const base = { portalId: change.portalId, occurredAt };
  const mine = subscriptions.filter((s) => s.portalId === change.portalId);
  const out: JournalEvent[] = [];
  const objectEvent = objectEventFor(mine, change, type.typeId, base);
  if (objectEvent) out.push(objectEvent);
  if (change.kind === 'privacyDeletion') {
    const s = mine.find((x) => x.subscriptionType === 'GDPR_PRIVACY_DELETION' && x.objectTypeId === type.typeId);
    if (s) out.push({ ...base, type: 'gdprPrivacyDeletion', action: 'GDPR_DELETE', objectTypeId: type.typeId, objectId: Number(change.objectId) });
  }
  if (change.kind === 'associationChange' && change.association) {
    const a = change.association;
    const to = resolveObjectType(a.toObjectType);
    const action: Action = a.removed ? 'ASSOCIATION_REMOVED' : 'ASSOCIATION_ADDED';
    const s = mine.find(
      (x) => x.subscriptionType === 'ASSOCIATION' && x.objectTypeId === type.typeId && x.actions.includes(action) &&
        (x.associatedObjectTypeIds.length === 0 || (to !== undefined && x.associatedObjectTypeIds.includes(to.typeId))),
    );
    if (s && to && watches(s, change.objectId)) {
      const typeId = labelTypeId(type, to, a.isPrimary);
      out.push(
        variants.associationFields === 'fromTo'
          ? {
              ...base, type: 'crmAssociation', action, fromObjectTypeId: type.typeId, fromObjectId: Number(change.objectId),
              toObjectTypeId: to.typeId, toObjectId: Number(a.toObjectId), associationTypeId: typeId, associationCategory: 'HUBSPOT_DEFINED', isPrimary: a.isPrimary,
            }
          : {
              ...base, type: 'crmAssociation', action, objectTypeId: type.typeId, objectId: Number(change.objectId),
              associatedObjectTypeId: to.typeId, associatedObjectId: Number(a.toObjectId), associationType: a.associationType,
            },
      );
    }
  }
  return out;
}

/** An app lifecycle event (install or uninstall of the app in a portal). */
export function appLifecycleEvent(portalId: number, action: 'APP_INSTALL' | 'APP_UNINSTALL', eventTypeId: string, appId: number, at: number, variants: JournalVariants): JournalEvent {
  return {
    type: 'app_lifecycle_event', action, portalId, occurredAt: variants.occurredAt === 'iso' ? new Date(at).toISOString() : at, eventTypeId,
    properties: { hs_app_id: appId, hs_app_install_level: 'PORTAL' },
  };
}

function objectEventFor(mine: readonly JournalSubscription[], change: ChangeEvent, typeId: string, base: { portalId: number; occurredAt: string | number }): JournalEvent | undefined {
  const action = ACTION_OF[change.kind];
  if (!action) return undefined;
  const s = mine.find((x) => x.subscriptionType === 'OBJECT' && x.objectTypeId === typeId && x.actions.includes(action));
  if (!s || !watches(s, change.objectId) || !passesFilters(s, action, change.properties)) return undefined;
  const event: JournalEvent = { ...base, type: 'crmObject', action, objectTypeId: typeId, objectId: Number(change.objectId) };
  if (change.changedProperties) {
    const changes = Object.entries(change.changedProperties).filter(([name]) => s.properties.length === 0 || s.properties.includes(name));
    // An update of properties nobody subscribed to is no event.
    if (action === 'UPDATE' && changes.length === 0) return undefined;
    event.propertyChanges = Object.fromEntries(changes.map(([name, value]) => [name, value === '' ? null : value]));
  }
  if (change.merge) {
    event.primaryObjectId = Number(change.merge.primaryObjectId);
    event.mergedObjectIds = [change.merge.primaryObjectId, ...change.merge.mergedObjectIds].map(Number);
  }
  return event;
}

function watches(s: JournalSubscription, objectId: string): boolean {
  return s.objectIds.length === 0 || s.objectIds.includes(Number(objectId));
}
