import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { desiredOverride, planTriggers, triggerWebhookUrl, type TriggerConfig } from '../../../src/paragon/trigger-plan.ts';
// Parameters and metadata compare as the inbox's canonical JSON (sorted keys).
import { canonicalJson as canonical } from '../../../src/webhooks/inbox.ts';
import type { TriggerSubscription } from '../../../src/paragon/triggers-api.ts';

const RECEIVER = 'https://hubsync.example.com/webhooks/paragon';

/** Triggers as the configuration schema gives them (keys filled in). */
function triggers(...raw: Record<string, unknown>[]): TriggerConfig[] {
  return configSchema.parse({ paragon: { projectId: 'p', signingKey: 'k', triggers: raw.map((t) => ({ user: 'u', integration: 'hubspot', ...t })) } }).paragon!.triggers;
}

const [created, updated] = triggers(
  { type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } },
  { type: 'HUBSPOT_RECORD_UPDATED', parameters: { recordType: 'Contact' } },
) as [TriggerConfig, TriggerConfig];

/** A subscription as Paragon lists it: `webhookOverride: {url}` only, unless `echo`. */
function listed(id: string, t: TriggerConfig, extra: Partial<TriggerSubscription> = {}, echo = false): TriggerSubscription {
  const override = desiredOverride(t, RECEIVER);
  return { id, integration: t.integration, type: t.type, parameters: t.parameters, status: 'ACTIVE', webhookOverride: echo ? override : { url: override.url }, ...extra };
}

describe('the desired subscription', () => {
  it('points at the receiver with the trigger key, portal and object type, and marks itself managed', () => {
    const [t] = triggers({ type: 'HUBSPOT_RECORD_CREATED', portalId: 62515, parameters: { recordType: 'Company' } });
    expect(desiredOverride(t!, RECEIVER)).toEqual({
      url: `${RECEIVER}?trigger=hubspot%3AHUBSPOT_RECORD_CREATED&portalId=62515&objectType=companies`,
      metadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_CREATED', portalId: 62515, objectType: 'companies' },
    });
  });

  it('takes a configured key, so one user can hold two triggers of one type', () => {
    const [a, b] = triggers(
      { type: 'HUBSPOT_RECORD_CREATED', key: 'new-contacts', parameters: { recordType: 'Contact' } },
      { type: 'HUBSPOT_RECORD_CREATED', key: 'new-companies', parameters: { recordType: 'Company' } },
    );
    expect(triggerWebhookUrl(a!, RECEIVER)).not.toBe(triggerWebhookUrl(b!, RECEIVER));
    const plan = planTriggers([a!, b!], [listed('1', a!), listed('2', b!)], RECEIVER);
    expect(plan).toMatchObject({ create: [], update: [], remove: [] });
    expect(plan.unchanged.map((s) => s.id)).toEqual(['1', '2']);
    expect(() => triggers({ type: 'HUBSPOT_RECORD_CREATED' }, { type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Deal' } })).toThrow(/duplicate trigger \\?"hubspot:HUBSPOT_RECORD_CREATED\\?" for user/);
  });
});

describe('planTriggers', () => {
  it('creates what is missing', () => {
    expect(planTriggers([created, updated], [], RECEIVER)).toMatchObject({ create: [created, updated], update: [], remove: [], unchanged: [], keep: [] });
  });

  it('recognises its subscriptions without echoed metadata: by recorded id, else by URL and type', () => {
    const byUrl = listed('1', created);
    const byId = listed('2', updated, { webhookOverride: { url: 'https://old-host.example.com/webhooks/paragon' } });
    const plan = planTriggers([created, updated], [byUrl, byId], RECEIVER, new Map([['2', updated.key]]));
    expect(plan.create).toEqual([]);
    expect(plan.unchanged).toEqual([byUrl]);
    // The recorded one moved hosts: patched back, not re-created.
    expect(plan.update.map((u) => u.subscription.id)).toEqual(['2']);
    expect(plan.keep).toEqual([{ id: '1', key: created.key }, { id: '2', key: updated.key }]);
  });

  it('leaves equal subscriptions alone, whatever the key order of their parameters or whether metadata is echoed', () => {
    const [t] = triggers({ type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact', b: { y: 1, x: 2 } } });
    const plain = listed('1', t!, { parameters: { b: { x: 2, y: 1 }, recordType: 'Contact' } });
    const echoed = listed('1', t!, { parameters: { b: { x: 2, y: 1 }, recordType: 'Contact' } }, true);
    expect(planTriggers([t!], [plain], RECEIVER)).toMatchObject({ create: [], update: [], remove: [], unchanged: [plain] });
    expect(planTriggers([t!], [echoed], RECEIVER)).toMatchObject({ create: [], update: [], remove: [], unchanged: [echoed] });
    expect(canonical({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });

  it('plans against a listed subscription whose parameters nest deeper than a recursion could follow', () => {
    const [t] = triggers({ type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 50_000; i++) deep = { nested: deep };
    const odd = listed('1', t!, { parameters: { recordType: 'Contact', deep } });
    const plan = planTriggers([t!], [odd], RECEIVER);
    expect(plan.update).toHaveLength(1);
    expect(plan.update[0]!.parameters).toEqual({ recordType: 'Contact', deep: null });
  });

  it('patches changed parameters (null removes a key no longer configured)', () => {
    const s = listed('1', created, { parameters: { recordType: 'Company', old: 'x' } });
    const plan = planTriggers([created], [s], RECEIVER);
    expect(plan.update).toEqual([{ subscription: s, trigger: created, parameters: { recordType: 'Contact', old: null }, webhookOverride: desiredOverride(created, RECEIVER) }]);
  });

  it('deletes its own subscriptions no longer configured and duplicates, never the app\u2019s', () => {
    const mine = listed('1', created);
    const stale = listed('2', updated);
    const twinErrored = listed('3', created, { status: 'ERRORED', error: 'failing' });
    const legacy = listed('5', updated, { webhookOverride: { url: 'https://elsewhere.example.com/hook', metadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_DELETED' } } });
    const theirs: TriggerSubscription = { id: '4', integration: 'hubspot', type: 'HUBSPOT_RECORD_UPDATED', parameters: {}, status: 'ACTIVE', webhookOverride: { url: RECEIVER } };
    const plan = planTriggers([created], [twinErrored, mine, stale, theirs, legacy], RECEIVER);
    expect(plan.unchanged).toEqual([mine]);
    expect(plan.remove.map((s) => s.id).sort()).toEqual(['2', '3', '5']);
    expect(plan.errored.map((s) => s.id)).toEqual(['3']);
    expect(plan.create).toEqual([]);
  });

  it('keeps the recorded one of duplicates, and forgets recorded ids Paragon no longer lists', () => {
    const first = listed('1', created);
    const second = listed('2', created);
    const plan = planTriggers([created], [first, second], RECEIVER, new Map([['2', created.key], ['9', updated.key]]));
    expect(plan.unchanged).toEqual([second]);
    expect(plan.remove).toEqual([first]);
    expect(plan.gone).toEqual(['9']);
  });
});
