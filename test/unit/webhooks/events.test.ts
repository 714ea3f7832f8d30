import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { parseHubSpotBatch, parseHubSpotEvent } from '../../../src/webhooks/hubspot-events.ts';
import { canonicalJson, foldDuplicates } from '../../../src/webhooks/inbox.ts';
import { checkStorable, parseHubSpotRequest, parseParagonRequest } from '../../../src/webhooks/ingest.ts';
import { logThrottle } from '../../../src/webhooks/log-throttle.ts';
import { jobProperties } from '../../../src/webhooks/service.ts';
import { parseWorkflowPost } from '../../../src/webhooks/records.ts';
import { planEvent } from '../../../src/webhooks/plan.ts';

const base = { eventId: 100, subscriptionId: 5, portalId: 62515, appId: 1, occurredAt: 1_700_000_000_000, attemptNumber: 0, objectId: 51 };

describe('HubSpot events', () => {
  it('keys an event on identity, not on the attempt number', () => {
    const batch = parseHubSpotBatch([0, 1, 2].map((attemptNumber) => ({ ...base, subscriptionType: 'contact.creation', attemptNumber })));
    expect(batch.quarantined).toEqual([]);
    expect(new Set(batch.events.map((e) => e.dedupKey)).size).toBe(1);
    const folded = foldDuplicates(batch);
    expect(folded.folded).toBe(2);
    expect(folded.batch.events).toHaveLength(1);
    expect(folded.batch.events[0]).toMatchObject({ firstAttempt: 0, lastAttempt: 2, deliveries: 3 });
  });

  it('keeps two events sharing an eventId apart', () => {
    const batch = parseHubSpotBatch([
      { ...base, subscriptionType: 'contact.creation' },
      { ...base, subscriptionType: 'contact.creation', objectId: 52 },
      { ...base, subscriptionType: 'contact.deletion' },
      { ...base, subscriptionType: 'contact.creation', occurredAt: base.occurredAt + 1 },
      { ...base, subscriptionType: 'contact.creation', subscriptionId: 6 },
      { ...base, subscriptionType: 'contact.creation', portalId: 1 },
    ]);
    expect(new Set(batch.events.map((e) => e.dedupKey)).size).toBe(6);
  });

  it('treats eventType as subscriptionType and numeric strings as ids', () => {
    const a = parseHubSpotBatch([{ ...base, subscriptionType: 'deal.propertyChange', propertyName: 'amount', propertyValue: '10' }]);
    const b = parseHubSpotBatch([{ ...base, objectId: '51', eventType: 'deal.propertyChange', propertyName: 'amount', propertyValue: '20' }]);
    expect(a.events[0]!.dedupKey).toBe(b.events[0]!.dedupKey);
    expect(a.events[0]).toMatchObject({ objectType: 'deals', objectId: '51', subscriptionType: 'deal.propertyChange' });
  });

  it('reads the generic object family by objectTypeId, and association and merge ids', () => {
    const batch = parseHubSpotBatch([
      { ...base, subscriptionType: 'object.creation', objectTypeId: '0-2' },
      { ...base, subscriptionType: 'object.creation', objectTypeId: '2-3465' },
      { ...base, subscriptionType: 'contact.associationChange', objectId: undefined, associationType: 'CONTACT_TO_COMPANY', fromObjectId: 51, toObjectId: 9 },
      { ...base, subscriptionType: 'contact.merge', primaryObjectId: 51, mergedObjectIds: [52], newObjectId: 77 },
    ]);
    expect(batch.quarantined).toEqual([]);
    expect(batch.events.map((e) => [e.objectType, e.objectId])).toEqual([
      ['companies', '51'],
      ['2-3465', '51'],
      ['contacts', '51'],
      ['contacts', '77'],
    ]);
  });

  it('quarantines values its columns cannot hold instead of failing the batch', () => {
    const batch = parseHubSpotBatch([
      { ...base, subscriptionType: 'contact.creation' },
      { ...base, subscriptionType: 'contact.creation', attemptNumber: 3e9 },
      { ...base, subscriptionType: 'contact.creation', occurredAt: 253_402_300_800_000 },
    ]);
    expect(batch.events).toHaveLength(1);
    expect(batch.quarantined.map((q) => q.reason)).toEqual([expect.stringContaining('attemptNumber'), expect.stringContaining('occurredAt')]);
  });

  it('quarantines invalid events with a reason and keeps the valid ones', () => {
    const batch = parseHubSpotBatch([
      { ...base, subscriptionType: 'contact.creation' },
      { ...base, subscriptionType: 'contact.propertyChange' },
      { ...base, subscriptionType: 'conversation.creation' },
      { ...base, subscriptionType: 'object.creation' },
      { ...base, portalId: 'x', subscriptionType: 'contact.creation' },
      { ...base },
      'not an object',
      null,
    ]);
    expect(batch.events).toHaveLength(1);
    expect(batch.quarantined.map((q) => q.reason)).toEqual([
      'propertyChange without propertyName',
      'unsupported subscription type "conversation.creation"',
      'object.* event without objectTypeId',
      expect.stringContaining('portalId'),
      'neither subscriptionType nor eventType is set',
      'event is not a JSON object',
      'event is not a JSON object',
    ]);
  });

  it('checks every field it reads, keeps ids as text and the fields it does not know as sent, and leaves the input alone', () => {
    const raw = { ...base, eventId: 100, objectId: '51', subscriptionType: 'contact.merge', primaryObjectId: 51, mergedObjectIds: [52, '53'], newObjectId: 77, changeSource: 'CRM', attemptNumber: undefined };
    const copy = structuredClone(raw);
    const parsed = parseHubSpotEvent(raw);
    expect(parsed).toEqual({
      kind: { family: 'contact', action: 'merge' },
      event: { ...raw, eventId: '100', objectId: '51', primaryObjectId: '51', mergedObjectIds: ['52', '53'], newObjectId: '77', attemptNumber: 0 },
    });
    expect(raw).toEqual(copy);

    const reasonFor = (fields: Record<string, unknown>) => {
      const result = parseHubSpotEvent({ ...base, subscriptionType: 'contact.propertyChange', propertyName: 'email', ...fields });
      return 'reason' in result ? result.reason : 'valid';
    };
    const invalid: [string, Record<string, unknown>][] = [
      ['eventId', { eventId: undefined }],
      ['eventId', { eventId: -1 }],
      ['eventId', { eventId: 1.5 }],
      ['eventId', { eventId: '12345678901234567890' }],
      ['eventId', { eventId: 'e1' }],
      ['subscriptionId', { subscriptionId: '5' }],
      ['portalId', { portalId: 0 }],
      ['appId', { appId: null }],
      ['occurredAt', { occurredAt: '2026-12-01T00:00:00Z' }],
      ['occurredAt', { occurredAt: -1 }],
      ['subscriptionType', { subscriptionType: 5 }],
      ['eventType', { eventType: false }],
      ['attemptNumber', { attemptNumber: -1 }],
      ['objectId', { objectId: 2 ** 53 }],
      ['objectTypeId', { objectTypeId: 'p_things' }],
      ['propertyName', { propertyName: '' }],
      ['propertyValue', { propertyValue: { nested: true } }],
      ['propertyValue', { propertyValue: [1] }],
      ['primaryObjectId', { primaryObjectId: 'x' }],
      ['mergedObjectIds', { mergedObjectIds: '52' }],
      ['mergedObjectIds.1', { mergedObjectIds: [52, 'x'] }],
      ['newObjectId', { newObjectId: {} }],
      ['associationType', { associationType: '' }],
      ['fromObjectId', { fromObjectId: true }],
      ['toObjectId', { toObjectId: -5 }],
      ['associationRemoved', { associationRemoved: 'true' }],
    ];
    for (const [path, fields] of invalid) expect([path, reasonFor(fields)]).toEqual([path, expect.stringMatching(new RegExp(`^${path.replace('.', '\\.')}: expected `))]);
    expect(reasonFor({ eventId: undefined, portalId: 'x' })).toMatch(/^eventId: expected .*found nothing; portalId: expected .*found string "x"$/);
    for (const propertyValue of ['a', 0, 1.5, true, null]) expect(reasonFor({ propertyValue })).toBe('valid');
    expect(reasonFor({ eventId: '1234567890123456789', objectId: 0, attemptNumber: 2 ** 31 - 1, occurredAt: 253_402_300_799_999 })).toBe('valid');
  });
});

describe('request bodies', () => {
  it('tells batches, workflow posts and garbage apart', () => {
    expect(parseHubSpotRequest(Buffer.from('[]'), {})).toMatchObject({ ok: true, source: 'hubspot' });
    expect(parseHubSpotRequest(Buffer.from('{"hs_object_id":"1","lastmodifieddate":"1700000000000"}'), { portalId: '5' })).toMatchObject({
      ok: true,
      source: 'workflow',
      batch: { events: [{ portalId: 5, objectType: 'contacts', objectId: '1', occurredAt: 1_700_000_000_000 }] },
    });
    for (const garbage of ['', 'nope', '42', '"text"', 'null', '[1,']) {
      expect(parseHubSpotRequest(Buffer.from(garbage), {}).ok).toBe(false);
    }
    expect(parseParagonRequest(Buffer.from('[]'), {}).ok).toBe(false);
  });

  it('quarantines text jsonb cannot hold instead of failing the batch', () => {
    const body = Buffer.from(JSON.stringify([{ ...base, subscriptionType: 'contact.propertyChange', propertyName: 'a', propertyValue: 'x\u0000y' }, { ...base, subscriptionType: 'contact.creation' }]));
    const parsed = parseHubSpotRequest(body, {});
    expect(parsed.ok && parsed.batch.events).toHaveLength(1);
    expect(parsed.ok && parsed.batch.quarantined[0]!.raw).toEqual(expect.stringContaining('\\u0000'));
    const lone = checkStorable({ events: [], quarantined: [{ source: 'hubspot', reason: 'r', raw: { k: '\ud800' }, contentHash: 'h', deliveries: 1 }] }, Buffer.from('\\u'));
    expect(typeof lone.quarantined[0]!.raw).toBe('string');
  });
});

describe('workflow posts', () => {
  const post = { hs_object_id: '51', email: 'a@example.com', lastmodifieddate: '2026-11-22T10:00:00.000Z', createdate: '2026-11-01T00:00:00.000Z' };

  it('keys on portal, object, content and version', () => {
    const a = parseWorkflowPost(post, { portalId: '62515' }).events[0]!;
    const reordered = parseWorkflowPost({ email: post.email, lastmodifieddate: post.lastmodifieddate, createdate: post.createdate, hs_object_id: '51' }, { portalId: '62515' }).events[0]!;
    const changed = parseWorkflowPost({ ...post, email: 'b@example.com' }, { portalId: '62515' }).events[0]!;
    const otherPortal = parseWorkflowPost(post, { portalId: '1' }).events[0]!;
    expect(a.dedupKey).toBe(reordered.dedupKey);
    expect(new Set([a.dedupKey, changed.dedupKey, otherPortal.dedupKey]).size).toBe(3);
    expect(a).toMatchObject({ source: 'workflow', objectType: 'contacts', occurredAt: Date.parse(post.lastmodifieddate) });
  });

  it('quarantines a post without portal, type or version', () => {
    expect(parseWorkflowPost(post, {}).quarantined[0]!.reason).toMatch(/portal/);
    expect(parseWorkflowPost({ hs_object_id: '1', name: 'x' }, { portalId: '1' }).quarantined[0]!.reason).toMatch(/object type/);
    expect(parseWorkflowPost({ hs_object_id: '1', name: 'x' }, { portalId: '1', objectType: 'companies' }).quarantined[0]!.reason).toMatch(/hs_lastmodifieddate/);
    expect(parseWorkflowPost(post, { defaultPortalId: 9 }).events[0]!.portalId).toBe(9);
  });

  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
  });
});

describe('Paragon events', () => {
  const event = {
    eventId: '4f1d0c38-0000-4000-8000-000000000001',
    userId: 'user-1',
    integration: 'hubspot',
    triggerType: 'HUBSPOT_RECORD_CREATED',
    dateReceived: '2026-11-22T10:00:01.000Z',
    payload: { id: '51', properties: { email: 'a@example.com', lastmodifieddate: '2026-11-22T10:00:00.000Z' }, createdAt: '2026-11-22T10:00:00.000Z' },
    triggerSubscriptionMetadata: { portalId: 62515, objectType: 'contacts' },
  };

  it('keys on eventId and reads the record', () => {
    const parsed = parseParagonRequest(Buffer.from(JSON.stringify(event)), {});
    expect(parsed.ok && parsed.batch.events[0]).toMatchObject({ source: 'paragon', dedupKey: `paragon:${event.eventId}`, portalId: 62515, objectType: 'contacts', objectId: '51' });
  });

  it('quarantines an event without eventId or record', () => {
    const noId = parseParagonRequest(Buffer.from(JSON.stringify({ ...event, eventId: undefined })), {});
    expect(noId.ok && noId.batch.quarantined[0]!.reason).toMatch(/eventId/);
    const noRecord = parseParagonRequest(Buffer.from(JSON.stringify({ ...event, payload: { note: 'x' } })), {});
    expect(noRecord.ok && noRecord.batch.quarantined).toHaveLength(1);
  });

  // Paragon's documented example payload: an array of flat records, no last-modified field.
  const documented = {
    ...event,
    triggerType: 'HUBSPOT_RECORD_CREATED',
    payload: [{ id: '1001', name: 'Sample Opportunity', amount: 50000, stage: 'Prospecting', closeDate: '2025-12-31' }],
    triggerSubscriptionMetadata: {},
  };

  it('stores a record of the documented shape, without a version, and plans to read it from HubSpot by id', () => {
    const parsed = parseParagonRequest(Buffer.from(JSON.stringify(documented)), { portalId: '62515', objectType: 'deals' });
    expect(parsed.ok && parsed.batch.quarantined).toEqual([]);
    const stored = parsed.ok ? parsed.batch.events[0]! : undefined;
    expect(stored).toMatchObject({ dedupKey: `paragon:${event.eventId}`, portalId: 62515, objectType: 'deals', objectId: '1001', occurredAt: null });
    const plan = planEvent({ id: 1, source: 'paragon', portal_id: 62515, object_type: 'deals', object_id: '1001', received_at: new Date(), payload: stored!.payload });
    expect(plan).toEqual({ id: 1, ok: true, observations: [], hydrate: [{ portalId: 62515, objectType: 'deals', objectId: '1001' }], readVia: 'paragon' });
  });

  it('stores each record of an array payload as its own event; a versioned one is a snapshot at once', () => {
    const two = { ...documented, payload: [{ id: '7', email: 'a@example.com' }, { id: '8', email: 'b@example.com', lastmodifieddate: '2026-11-22T10:00:00.000Z' }] };
    const parsed = parseParagonRequest(Buffer.from(JSON.stringify(two)), { portalId: '62515', objectType: 'contacts' });
    const events = parsed.ok ? parsed.batch.events : [];
    expect(events.map((e) => [e.dedupKey, e.objectId, e.occurredAt])).toEqual([
      [`paragon:${event.eventId}:7`, '7', null],
      [`paragon:${event.eventId}:8`, '8', Date.parse('2026-11-22T10:00:00.000Z')],
    ]);
    const plan = planEvent({ id: 2, source: 'paragon', portal_id: 62515, object_type: 'contacts', object_id: '8', received_at: new Date(), payload: events[1]!.payload });
    expect(plan).toMatchObject({ ok: true, hydrate: [], observations: [{ kind: 'snapshot', properties: { email: 'b@example.com' } }] });
  });
});

describe('log throttle', () => {
  it('lets one line per key per interval through and counts the rest', () => {
    let now = 0;
    const lines: [string, number][] = [];
    const throttle = logThrottle(10_000, () => now);
    for (let i = 0; i < 5; i++) throttle('a', (suppressed) => lines.push(['a', suppressed]));
    throttle('b', (suppressed) => lines.push(['b', suppressed]));
    now = 10_000;
    throttle('a', (suppressed) => lines.push(['a', suppressed]));
    expect(lines).toEqual([
      ['a', 0],
      ['b', 0],
      ['a', 4],
    ]);
  });
});

describe('hydration properties', () => {
  it("use the job's list plus the mirror's bookkeeping, else all", () => {
    // Through the configuration schema, which holds `contact` as `contacts`.
    const properties = jobProperties(
      configSchema.parse({
        hubspot: { accounts: [{ portalId: 1, accessToken: 'pat-test' }] },
        jobs: [
          { name: 'people', portalId: 1, objectType: 'contact', properties: ['email', 'createdate'] },
          { name: 'firms', portalId: 1, objectType: 'companies', properties: 'all' },
        ],
      }),
    );
    expect(properties(1, 'contacts')).toEqual(['email', 'createdate', 'lastmodifieddate', 'hs_merged_object_ids']);
    expect(properties(1, 'companies')).toBe('all');
    expect(properties(2, 'contacts')).toBe('all');
  });
});

describe('association events as observations', () => {
  const stored = (payload: Record<string, unknown>) => ({
    id: 1, source: 'hubspot' as const, portal_id: 62515, object_type: 'companies', object_id: '51', received_at: new Date(1_700_000_001_000), payload,
  });
  const event = (associationType: string, extra: Record<string, unknown> = {}) =>
    stored({ ...base, subscriptionType: 'company.associationChange', objectId: undefined, associationType, fromObjectId: 51, toObjectId: 9, ...extra });
  const customTypes = (_portalId: number, name: string) => ({ PROJECT: '2-3465', '2-3465': '2-3465', CONTACT: 'contacts' })[name];

  it('resolve the other end\'s type from the label in the portal: a custom object by its type id', () => {
    const plan = planEvent(event('COMPANY_TO_PROJECT'), customTypes);
    expect(plan).toMatchObject({ ok: true, observations: [{ kind: 'association', toObjectType: '2-3465', toObjectId: '9', removed: false }] });
    expect(planEvent(event('COMPANY_TO_CONTACT', { associationRemoved: true }))).toMatchObject({ ok: true, observations: [{ toObjectType: 'contacts', removed: true }] });
    expect(planEvent(event('COMPANY_TO_WHATEVER', { toObjectTypeId: '2-3465' }), customTypes)).toMatchObject({ ok: true, observations: [{ toObjectType: '2-3465' }] });
  });

  it("read the object's associations again after a primary association's removal, which may leave the pair associated", () => {
    const ref = { portalId: 62515, objectType: 'companies', objectId: '51' };
    expect(planEvent(event('COMPANY_TO_CONTACT', { associationRemoved: true, isPrimaryAssociation: true }))).toMatchObject({ ok: true, observations: [{ removed: true }], hydrate: [ref] });
    for (const extra of [{ associationRemoved: true, isPrimaryAssociation: false }, { associationRemoved: false, isPrimaryAssociation: true }, { associationRemoved: true }]) {
      expect(planEvent(event('COMPANY_TO_CONTACT', extra))).toMatchObject({ ok: true, hydrate: [] });
    }
  });

  it('wait (a retried failure) while the other end\'s type is not known in the portal', () => {
    expect(planEvent(event('COMPANY_TO_PROJECT'), () => undefined)).toMatchObject({ ok: false, retry: true, error: expect.stringContaining('COMPANY_TO_PROJECT') });
  });
});
