import { describe, expect, it } from 'vitest';
import { canonical, desiredOverride, planTriggers, type TriggerConfig } from '../../../src/paragon/triggers.ts';
import type { TriggerSubscription } from '../../../src/paragon/triggers-api.ts';

const URL_ = 'https://hubsync.example.com/webhooks/paragon';
const created: TriggerConfig = { user: 'u', integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } };
const updated: TriggerConfig = { user: 'u', integration: 'hubspot', type: 'HUBSPOT_RECORD_UPDATED', parameters: { recordType: 'Contact' } };

function managed(id: string, t: TriggerConfig, extra: Partial<TriggerSubscription> = {}): TriggerSubscription {
  return {
    id, integration: t.integration, type: t.type, parameters: t.parameters, status: 'ACTIVE',
    webhookOverride: desiredOverride(t, URL_),
    ...extra,
  };
}

describe('desiredOverride', () => {
  it('marks the subscription managed and tells the receiver its portal and object type', () => {
    expect(desiredOverride({ ...created, portalId: 62515, parameters: { recordType: 'Company' } }, URL_)).toEqual({
      url: URL_,
      metadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_CREATED', portalId: 62515, objectType: 'companies' },
    });
  });
});

describe('planTriggers', () => {
  it('creates what is missing', () => {
    expect(planTriggers([created, updated], [], URL_)).toMatchObject({ create: [created, updated], update: [], remove: [], unchanged: [] });
  });

  it('leaves equal subscriptions alone, whatever the key order of their parameters', () => {
    const t = { ...created, parameters: { recordType: 'Contact', b: { y: 1, x: 2 } } };
    const s = managed('1', t, { parameters: { b: { x: 2, y: 1 }, recordType: 'Contact' } });
    expect(planTriggers([t], [s], URL_)).toMatchObject({ create: [], update: [], remove: [], unchanged: [s] });
    expect(canonical({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });

  it('patches changed parameters (null removes a key no longer configured) and a moved webhook URL', () => {
    const s = managed('1', created, { parameters: { recordType: 'Company', old: 'x' } });
    const plan = planTriggers([created], [s], URL_);
    expect(plan.update).toEqual([{ subscription: s, trigger: created, parameters: { recordType: 'Contact', old: null }, webhookOverride: { url: URL_, metadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_CREATED', objectType: 'contacts' } } }]);
    const moved = planTriggers([created], [managed('1', created)], 'https://new.example.com/webhooks/paragon');
    expect(moved.update).toHaveLength(1);
  });

  it('deletes managed subscriptions no longer configured and duplicates, never unmanaged ones', () => {
    const mine = managed('1', created);
    const stale = managed('2', updated);
    const twinErrored = managed('3', created, { status: 'ERRORED', error: 'failing' });
    const theirs: TriggerSubscription = { id: '4', integration: 'hubspot', type: 'HUBSPOT_RECORD_UPDATED', parameters: {}, status: 'ACTIVE', webhookOverride: { url: 'https://app.example.com' } };
    const plan = planTriggers([created], [twinErrored, mine, stale, theirs], URL_);
    expect(plan.unchanged).toEqual([mine]);
    expect(plan.remove.map((s) => s.id).sort()).toEqual(['2', '3']);
    expect(plan.errored.map((s) => s.id)).toEqual(['3']);
    expect(plan.create).toEqual([]);
  });
});
