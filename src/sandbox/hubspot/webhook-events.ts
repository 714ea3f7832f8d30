import type { ChangeEvent } from './changes.ts';
import { resolveObjectType } from './object-types.ts';

export interface SubscriptionOptions {
  /** e.g. `contact.propertyChange`, `contact.privacyDeletion`, `object.creation`. */
  subscriptionType: string;
  /** Required for propertyChange. */
  propertyName?: string;
  /** For the generic `object.*` family: which type (`0-1`, `2-3465`, …); unset = every type. */
  objectTypeId?: string;
  /** Default: assigned from the app id and position. */
  subscriptionId?: number;
}

export interface Subscription extends SubscriptionOptions {
  subscriptionId: number;
}

/** One Webhooks-API event as HubSpot posts it (attemptNumber is set per delivery). */
export interface WebhookEvent {
  eventId: number;
  subscriptionId: number;
  portalId: number;
  appId: number;
  occurredAt: number;
  subscriptionType: string;
  attemptNumber: number;
  objectId?: number;
  objectTypeId?: string;
  changeSource: string;
  changeFlag?: string;
  sourceId?: string;
  propertyName?: string;
  propertyValue?: string;
  primaryObjectId?: number;
  mergedObjectIds?: number[];
  newObjectId?: number;
  numberOfPropertiesMoved?: number;
  associationType?: string;
  fromObjectId?: number;
  toObjectId?: number;
  associationRemoved?: boolean;
  isPrimaryAssociation?: boolean;
}

const CHANGE_FLAG: Partial<Record<ChangeEvent['kind'], string>> = {
  creation: 'NEW', deletion: 'DELETED', restore: 'RESTORED', merge: 'MERGED', privacyDeletion: 'PRIVACY_DELETED',
};

function matches(sub: Subscription, change: ChangeEvent, prefix: string, typeId: string): boolean {
  const [family, action] = sub.subscriptionType.split('.');
  if (family === 'object') {
    if (sub.objectTypeId !== undefined && sub.objectTypeId !== typeId) return false;
  } else if (family !== prefix) {
    return false;
  }
  // Property changes also happen on creation: HubSpot reports the properties a record was created with.
  if (action === 'propertyChange') return change.kind === 'creation' || change.kind === 'propertyChange';
  return action === change.kind;
}

/** The events (without eventId) one change produces for one app's subscriptions, in subscription order. */
export function eventsForChange(appId: number, subscriptions: readonly Subscription[], change: ChangeEvent): Omit<WebhookEvent, 'eventId'>[] {
  const type = resolveObjectType(change.objectType);
  if (!type) return [];
  const prefix = type.webhookPrefix ?? '';
  const out: Omit<WebhookEvent, 'eventId'>[] = [];
  for (const sub of subscriptions) {
    if (!matches(sub, change, prefix, type.typeId)) continue;
    const base: Omit<WebhookEvent, 'eventId'> = {
      subscriptionId: sub.subscriptionId, portalId: change.portalId, appId, occurredAt: change.at,
      subscriptionType: sub.subscriptionType, attemptNumber: 0, objectId: Number(change.objectId),
      changeSource: change.source.changeSource,
    };
    if (sub.subscriptionType.startsWith('object.')) base.objectTypeId = type.typeId;
    if (change.source.sourceId !== undefined) base.sourceId = change.source.sourceId;
    const action = sub.subscriptionType.split('.')[1];
    if (action === 'propertyChange') {
      const name = sub.propertyName;
      if (name === undefined || !change.changedProperties || !(name in change.changedProperties)) continue;
      out.push({ ...base, propertyName: name, propertyValue: change.changedProperties[name] ?? '' });
      continue;
    }
    const flag = CHANGE_FLAG[change.kind];
    if (flag !== undefined) base.changeFlag = flag;
    if (change.merge) {
      const m = change.merge;
      Object.assign(base, {
        primaryObjectId: Number(m.primaryObjectId), mergedObjectIds: m.mergedObjectIds.map(Number),
        newObjectId: Number(m.newObjectId), numberOfPropertiesMoved: m.numberOfPropertiesMoved,
      });
    }
    if (change.association) {
      const a = change.association;
      delete base.objectId;
      Object.assign(base, {
        associationType: a.associationType, fromObjectId: Number(change.objectId), toObjectId: Number(a.toObjectId),
        associationRemoved: a.removed, isPrimaryAssociation: a.isPrimary,
      });
    }
    out.push(base);
  }
  return out;
}
