import { describe, expect, it } from 'vitest';
import { journalIncoming, journalObservations, parseJournalEvent } from '../../../src/webhooks/journal-events.ts';

const T = Date.UTC(2026, 11, 6, 12);
const seenAt = new Date(T + 1000);

describe('journal events', () => {
  it('accept occurredAt as ISO text or epoch ms (a number or digits)', () => {
    for (const occurredAt of [new Date(T).toISOString(), T, String(T)]) {
      const parsed = parseJournalEvent({ type: 'crmObject', action: 'UPDATE', portalId: 1, occurredAt, objectTypeId: '0-1', objectId: 5, propertyChanges: { email: 'a@x' } });
      expect(parsed).toMatchObject({ kind: 'object', occurredAt: T, ref: { portalId: 1, objectType: 'contacts', objectId: '5' } });
    }
    expect(parseJournalEvent({ action: 'UPDATE', portalId: 1, occurredAt: 'yesterday', objectTypeId: '0-1', objectId: 5 })).toHaveProperty('reason');
  });

  it('read association events in either spelling as the same edge, named as push webhooks name it', () => {
    const fromTo = parseJournalEvent({
      type: 'crmAssociation', action: 'ASSOCIATION_ADDED', portalId: 1, occurredAt: T, fromObjectTypeId: '0-1', fromObjectId: 5,
      toObjectTypeId: '0-2', toObjectId: 9, associationTypeId: 279, associationCategory: 'HUBSPOT_DEFINED',
    });
    const associated = parseJournalEvent({
      action: 'ASSOCIATION_ADDED', portalId: 1, occurredAt: new Date(T).toISOString(), objectTypeId: '0-1', objectId: '5',
      associatedObjectTypeId: '0-2', associatedObjectId: 9, associationType: 'contact_to_company',
    });
    const edge = { kind: 'association', ref: { portalId: 1, objectType: 'contacts', objectId: '5' }, toObjectType: 'companies', toObjectId: '9', associationType: 'CONTACT_TO_COMPANY', removed: false };
    expect(fromTo).toMatchObject(edge);
    expect(associated).toMatchObject(edge);
    // A label of the app's own (USER_DEFINED) keeps its type id.
    expect(parseJournalEvent({ action: 'ASSOCIATION_REMOVED', portalId: 1, occurredAt: T, fromObjectTypeId: '0-1', fromObjectId: 5, toObjectTypeId: '0-2', toObjectId: 9, associationTypeId: 42, associationCategory: 'USER_DEFINED' }))
      .toMatchObject({ associationType: '42', removed: true });
    expect(parseJournalEvent({ action: 'ASSOCIATION_ADDED', portalId: 1, occurredAt: T, objectTypeId: '0-1', objectId: 5 })).toHaveProperty('reason');
  });

  it('turn into the observations push webhooks give, versioned by occurredAt, credited to the journal', () => {
    const plan = (raw: Record<string, unknown>) => {
      const parsed = parseJournalEvent({ portalId: 1, occurredAt: T, objectTypeId: '0-1', objectId: 5, ...raw });
      if ('reason' in parsed) throw new Error(parsed.reason);
      return journalObservations(parsed, seenAt);
    };
    const ref = { portalId: 1, objectType: 'contacts', objectId: '5' };
    const base = { ref, version: T, via: 'journal', seenAt };
    // A creation with its values needs no read; one without them does.
    expect(plan({ action: 'CREATE', propertyChanges: { email: 'a@x', firstname: null } })).toEqual({
      observations: [{ ...base, kind: 'created' }, { ...base, kind: 'propertyChange', property: 'email', value: 'a@x' }, { ...base, kind: 'propertyChange', property: 'firstname', value: null }],
      hydrate: [],
    });
    expect(plan({ action: 'CREATE' }).hydrate).toEqual([ref]);
    expect(plan({ action: 'UPDATE', propertyChanges: { email: 7 } }).observations).toEqual([{ ...base, kind: 'propertyChange', property: 'email', value: '7' }]);
    expect(plan({ action: 'DELETE' })).toEqual({ observations: [{ ...base, kind: 'deleted' }], hydrate: [] });
    expect(plan({ action: 'GDPR_DELETE' })).toEqual({ observations: [{ ...base, kind: 'privacyDeleted' }], hydrate: [] });
    expect(plan({ action: 'RESTORE' })).toEqual({ observations: [{ ...base, kind: 'restored' }], hydrate: [ref] });
    // A merge: the survivor absorbs every other id named, never itself.
    expect(plan({ action: 'MERGE', primaryObjectId: 3, mergedObjectIds: [3, 4, 5] })).toEqual({ observations: [{ ...base, kind: 'merged', mergedIds: ['3', '4'] }], hydrate: [ref] });
    // A snapshot reports values as of then, not changes: a read.
    expect(plan({ action: 'SNAPSHOT', propertyChanges: { email: 'a@x' } }).observations).toEqual([{ ...base, kind: 'snapshot', properties: { email: 'a@x' } }]);
    // App lifecycle events are records, nothing for the mirror.
    const uninstall = parseJournalEvent({ type: 'app_lifecycle_event', action: 'APP_UNINSTALL', portalId: 1, occurredAt: T, eventTypeId: '4-1916193' });
    expect(uninstall).toMatchObject({ kind: 'other', action: 'APP_UNINSTALL', portalId: 1 });
    expect(journalObservations(uninstall as never, seenAt)).toEqual({ observations: [], hydrate: [] });
  });

  it("read the object's associations again after a primary association's removal, named by isPrimary or by HubSpot's primary type ids", () => {
    const plan = (raw: Record<string, unknown>) => {
      const parsed = parseJournalEvent({ portalId: 1, occurredAt: T, fromObjectTypeId: '0-1', fromObjectId: 5, toObjectTypeId: '0-2', toObjectId: 9, ...raw });
      if ('reason' in parsed) throw new Error(parsed.reason);
      return journalObservations(parsed, seenAt);
    };
    const ref = { portalId: 1, objectType: 'contacts', objectId: '5' };
    for (const primary of [{ isPrimary: true, associationTypeId: 279 }, { associationTypeId: 1, associationCategory: 'HUBSPOT_DEFINED' }, { associationTypeId: '1' }]) {
      expect(plan({ action: 'ASSOCIATION_REMOVED', ...primary })).toMatchObject({ observations: [{ kind: 'association', removed: true }], hydrate: [ref] });
      expect(plan({ action: 'ASSOCIATION_ADDED', ...primary }).hydrate).toEqual([]);
    }
    for (const other of [{ associationTypeId: 279 }, { associationTypeId: 1, associationCategory: 'USER_DEFINED' }, { isPrimary: false, associationTypeId: 279 }]) {
      expect(plan({ action: 'ASSOCIATION_REMOVED', ...other }).hydrate).toEqual([]);
    }
  });

  it('are keyed by content, so a copy in a later file is the same inbox row; bad ones are quarantined', () => {
    const raw = { type: 'crmObject', action: 'UPDATE', portalId: 1, occurredAt: T, objectTypeId: '0-2', objectId: 5, propertyChanges: { name: 'A' } };
    const a = journalIncoming(raw, 'offset-1');
    const b = journalIncoming({ propertyChanges: { name: 'A' }, objectId: 5, objectTypeId: '0-2', occurredAt: T, portalId: 1, action: 'UPDATE', type: 'crmObject' }, 'offset-2');
    expect('event' in a && 'event' in b).toBe(true);
    if (!('event' in a) || !('event' in b)) return;
    expect(a.event.dedupKey).toBe(b.event.dedupKey);
    expect(a.event).toMatchObject({ source: 'journal', portalId: 1, objectType: 'companies', objectId: '5', occurredAt: T, subscriptionType: 'journal.UPDATE', eventId: 'offset-1' });
    const other = journalIncoming({ ...raw, propertyChanges: { name: 'B' } }, 'offset-1');
    expect('event' in other && other.event.dedupKey).not.toBe(a.event.dedupKey);
    const bad = journalIncoming({ action: 'EXPLODE', portalId: 1, occurredAt: T }, 'offset-1');
    expect(bad).toMatchObject({ quarantined: { source: 'journal' } });
  });
});
