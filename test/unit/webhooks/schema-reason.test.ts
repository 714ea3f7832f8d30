import { describe, expect, it } from 'vitest';
import { parseJournalEvent } from '../../../src/webhooks/journal-events.ts';
import { parseHubSpotEvent } from '../../../src/webhooks/hubspot-events.ts';
import { parseParagonEvent } from '../../../src/webhooks/paragon-events.ts';

describe('the reason an event that fails its schema is quarantined with', () => {
  it('names each failing field by its path, the same way for every source', () => {
    const journal = parseJournalEvent({ action: 'TELEPORT', portalId: 'x', occurredAt: 'yesterday' });
    expect('reason' in journal && journal.reason.split('; ').map((part) => part.split(':')[0])).toEqual(['action', 'portalId', 'occurredAt']);

    const hubspot = parseHubSpotEvent({ eventId: 'e', portalId: 62515 });
    expect('reason' in hubspot && hubspot.reason).toMatch(/^\w+: /);

    const paragon = parseParagonEvent({ payload: { id: '1' } }, {});
    expect(paragon.events).toEqual([]);
    expect(paragon.quarantined[0]!.reason).toMatch(/^eventId: /);
  });

  it('names the payload when its shape is wrong, and at most five problems', () => {
    const paragon = parseParagonEvent({ eventId: 'e1', payload: [] }, {});
    expect(paragon.quarantined[0]!.reason).toMatch(/^payload: /);
    const many = parseJournalEvent({ action: 1, portalId: -1, occurredAt: {}, objectTypeId: 5, objectId: [], fromObjectId: {}, toObjectId: {} });
    expect('reason' in many && many.reason.split('; ')).toHaveLength(5);
  });
});
