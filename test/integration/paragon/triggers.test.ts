import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import { collectStatus, formatStatus } from '../../../src/cli/status.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { syncTriggers, triggerExamples, triggerStatus } from '../../../src/paragon/triggers.ts';
import { runCli } from '../../helpers/cli.ts';
import { createTriggerSyncService } from '../../../src/paragon/triggers-service.ts';
import { createUserTokenSigner } from '../../../src/paragon/token.ts';
import { startSandbox, DEFAULT_PORTAL_ID, type Sandbox } from '../../../src/sandbox/index.ts';
import type { ParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { verifyParagon } from '../../../src/webhooks/paragon-signature.ts';
import { managedTriggerUsers } from '../../../src/paragon/trigger-user-store.ts';
import { createTestDb, seededEmbeddedDir } from '../../helpers/db.ts';
import { startReceiver } from '../sandbox/receiver.ts';
import { captureLogger } from '../webhooks/helpers.ts';
import { PROJECT_ID, quietLog, testKeys, waitFor } from '../outbox/harness.ts';

let sandbox: Sandbox;
let paragon: ParagonSandbox;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const SECRET = 'paragon-webhook-secret';

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.01,
    paragon: { projectId: PROJECT_ID, publicKeyPem: testKeys().publicKeyPem, webhookSecret: SECRET, webhooks: { retryBaseMs: 100, maxRetries: 2, erroredAfter: 2 } },
  });
  paragon = sandbox.paragon!;
  expect(paragon.portalOf('anyone')).toBe(DEFAULT_PORTAL_ID);
  receiver = await startReceiver();
});
afterAll(async () => {
  await sandbox?.close();
  await receiver?.close();
});

function config(triggers: unknown[]): Config {
  return configSchema.parse({
    http: { publicUrl: receiver.base },
    paragon: { projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, webhookSecret: SECRET, baseUrl: sandbox.baseUrl, actionKitUrl: `${sandbox.baseUrl}/actionkit`, triggers },
  });
}

const contactCreated = { user: 'user-1', integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' }, portalId: DEFAULT_PORTAL_ID };
const contactUpdated = { user: 'user-1', integration: 'hubspot', type: 'HUBSPOT_RECORD_UPDATED', parameters: { recordType: 'Contact' } };
const companyCreated = { user: 'user-2', integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Company' } };

describe('syncTriggers against the Triggers API', () => {
  it('creates what is missing, then further runs change nothing though Paragon echoes no metadata', async () => {
    expect(paragon.echoWebhookMetadata).toBe(false);
    const first = await syncTriggers(config([contactCreated, contactUpdated, companyCreated]), { log: quietLog });
    expect(first).toMatchObject({ users: 2, created: 3, updated: 0, deleted: 0, unchanged: 0, failures: [] });
    expect(paragon.subscriptions.mutations).toBe(3);
    for (let run = 0; run < 3; run++) {
      const again = await syncTriggers(config([contactCreated, contactUpdated, companyCreated]), { log: quietLog });
      expect(again).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 3 });
    }
    expect(paragon.subscriptions.mutations).toBe(3);
    const sub = paragon.subscriptions.forUser('user-1').find((s) => s.type === 'HUBSPOT_RECORD_CREATED');
    expect(sub?.webhookOverride).toEqual({
      url: `${receiver.base}/webhooks/paragon?trigger=hubspot%3AHUBSPOT_RECORD_CREATED&portalId=${DEFAULT_PORTAL_ID}&objectType=contacts`,
      metadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_CREATED', portalId: DEFAULT_PORTAL_ID, objectType: 'contacts' },
    });
    // The listing shows the URL only, as Paragon's documented responses do.
    const token = await createUserTokenSigner({ projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, ttlSeconds: 60 }).token('user-1');
    const listing = await (await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, { headers: { authorization: `Bearer ${token}` } })).json() as { triggers: { hubspot: { webhookOverride: unknown }[] } };
    expect(listing.triggers.hubspot.every((s) => Object.keys(s.webhookOverride as object).join() === 'url')).toBe(true);
    // With metadata echoed, nothing changes either.
    paragon.echoWebhookMetadata = true;
    try {
      expect(await syncTriggers(config([contactCreated, contactUpdated, companyCreated]), { log: quietLog })).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 3 });
    } finally {
      paragon.echoWebhookMetadata = false;
    }
    expect(paragon.subscriptions.mutations).toBe(3);
  });

  it('updates changed parameters, deletes removed triggers, and leaves unmanaged subscriptions alone', async () => {
    // A subscription the app made itself, through the same API.
    const token = await createUserTokenSigner({ projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, ttlSeconds: 60 }).token('user-1');
    const res = await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ integration: 'hubspot', type: 'HUBSPOT_RECORD_DELETED', parameters: { recordType: 'Deal' }, webhookOverride: { url: 'https://app.example.com/hook' } }),
    });
    expect(res.status).toBe(201);
    const before = paragon.subscriptions.mutations;
    const report = await syncTriggers(config([{ ...contactCreated, parameters: { recordType: 'Contact', extra: 'x' } }, companyCreated]), { log: quietLog });
    expect(report).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 1 });
    expect(paragon.subscriptions.mutations).toBe(before + 2);
    const user1 = paragon.subscriptions.forUser('user-1');
    expect(user1.map((s) => s.type).sort()).toEqual(['HUBSPOT_RECORD_CREATED', 'HUBSPOT_RECORD_DELETED']);
    expect(user1.find((s) => s.type === 'HUBSPOT_RECORD_CREATED')?.parameters).toEqual({ recordType: 'Contact', extra: 'x' });
    // Back to the original parameters: the extra key is removed through PATCH's null.
    await syncTriggers(config([contactCreated, companyCreated]), { log: quietLog });
    expect(paragon.subscriptions.forUser('user-1').find((s) => s.type === 'HUBSPOT_RECORD_CREATED')?.parameters).toEqual({ recordType: 'Contact' });
    const again = await syncTriggers(config([contactCreated, companyCreated]), { log: quietLog });
    expect(again).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 2 });
  });

  it('sends signed trigger webhooks for matching HubSpot changes', async () => {
    const from = receiver.received.length;
    const contact = sandbox.hubspot.create('contacts', { email: 'ada@example.com', firstname: 'Ada' });
    sandbox.hubspot.create('deals', { dealname: 'not watched' });
    await paragon.idle();
    const got = receiver.received.slice(from);
    expect(got).toHaveLength(1);
    const hook = got[0]!;
    expect(hook.url).toBe(`/webhooks/paragon?trigger=hubspot%3AHUBSPOT_RECORD_CREATED&portalId=${DEFAULT_PORTAL_ID}&objectType=contacts`);
    expect(verifyParagon(String(hook.headers['x-paragon-signature']), hook.raw, SECRET)).toEqual({ ok: true });
    const sub = paragon.subscriptions.forUser('user-1').find((s) => s.type === 'HUBSPOT_RECORD_CREATED')!;
    expect(hook.body).toMatchObject({
      userId: 'user-1', integration: 'hubspot', triggerType: 'HUBSPOT_RECORD_CREATED', triggerSubscriptionId: sub.id,
      credentialId: sub.credentialId, projectId: PROJECT_ID,
      // Paragon's documented shape: an array of flat records, no last-modified field.
      payload: [{ id: contact.id, email: 'ada@example.com', firstname: 'Ada', hs_object_id: contact.id }],
      triggerSubscriptionMetadata: { managedBy: 'hubsync', key: 'hubspot:HUBSPOT_RECORD_CREATED', portalId: DEFAULT_PORTAL_ID, objectType: 'contacts' },
    });
    expect((hook.body as { eventId: string }).eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys((hook.body as { payload: Record<string, unknown>[] }).payload[0]!)).not.toContain('lastmodifieddate');
  });

  it('can duplicate a trigger webhook (same eventId, as Paragon retries do) or drop it', async () => {
    const from = receiver.received.length;
    paragon.webhooks.setFaults({ duplicateProbability: 1 });
    sandbox.hubspot.create('contacts', { email: 'twice@example.com' });
    await paragon.idle();
    paragon.webhooks.setFaults({ duplicateProbability: 0, dropProbability: 1 });
    sandbox.hubspot.create('contacts', { email: 'never@example.com' });
    await paragon.idle();
    paragon.webhooks.setFaults({ dropProbability: 0 });
    const got = receiver.received.slice(from).map((r) => r.body as { eventId: string; payload: { email: string }[] });
    expect(got.map((b) => b.payload[0]!.email)).toEqual(['twice@example.com', 'twice@example.com']);
    expect(got[0]?.eventId).toBe(got[1]?.eventId);
    expect(paragon.webhooks.deliveries.at(-1)).toMatchObject({ dropped: true, delivered: false });
  });

  it('turns a subscription ERRORED after repeated delivery failures, and sync reports it', async () => {
    receiver.setResponder(() => ({ status: 500 }));
    try {
      sandbox.hubspot.create('contacts', { email: 'b@example.com' });
      sandbox.hubspot.create('contacts', { email: 'c@example.com' });
      await waitFor(() => paragon.subscriptions.forUser('user-1').some((s) => s.status === 'ERRORED'), 'the subscription ERRORED');
      await paragon.idle();
    } finally {
      receiver.setResponder(() => ({ status: 204 }));
    }
    const report = await syncTriggers(config([contactCreated, companyCreated]), { log: quietLog });
    expect(report.errored).toHaveLength(1);
    expect(report.errored[0]).toMatchObject({ user: 'user-1', type: 'HUBSPOT_RECORD_CREATED' });
    expect(report.errored[0]?.error).toMatch(/failed/);
    expect(report).toMatchObject({ created: 0, updated: 0, deleted: 0 });
  });

  it('status reads the subscriptions without changing them: ERRORED ones, and what a sync would do', async () => {
    const mutations = paragon.subscriptions.mutations;
    const status = await triggerStatus(config([contactCreated, contactUpdated, companyCreated]), { log: quietLog });
    expect(status).toMatchObject({ users: 2, inSync: 2, toCreate: 1, toUpdate: 0, toDelete: 0, failures: [] });
    expect(status.errored).toEqual([expect.objectContaining({ user: 'user-1', type: 'HUBSPOT_RECORD_CREATED' })]);
    expect(paragon.subscriptions.mutations).toBe(mutations);
    const testDb = await createTestDb();
    try {
      const report = await collectStatus(testDb.db, config([contactCreated, contactUpdated, companyCreated]), quietLog);
      expect(report.triggers).toEqual(status);
      const text = formatStatus(report);
      expect(text).toContain('2 users: 2 in sync; the next sync creates 1, updates 0, deletes 0; 1 ERRORED');
      expect(text).toMatch(/ERRORED user-1 HUBSPOT_RECORD_CREATED \(.+\): .*failed/);
    } finally {
      await testDb.close();
    }
  });

  it('deletes the managed subscriptions of users removed from the configuration, and then forgets them', async () => {
    const testDb = await createTestDb();
    try {
      const seven = { ...contactCreated, user: 'user-7' };
      const eight = { ...companyCreated, user: 'user-8' };
      const sync = (triggers: unknown[]) => syncTriggers(config(triggers), { log: quietLog, db: testDb.db });
      expect(await sync([seven, eight])).toMatchObject({ users: 2, created: 2, failures: [] });
      expect(await managedTriggerUsers(testDb.db)).toEqual(['user-7', 'user-8']);
      // user-8 leaves the configuration: status shows what the next sync would do, the sync does it.
      const status = await triggerStatus(config([seven]), { log: quietLog, db: testDb.db });
      expect(status).toMatchObject({ users: 2, inSync: 1, toDelete: 1 });
      expect(await sync([seven])).toMatchObject({ users: 2, deleted: 1, unchanged: 1, failures: [] });
      expect(paragon.subscriptions.forUser('user-8')).toEqual([]);
      expect(await managedTriggerUsers(testDb.db)).toEqual(['user-7']);
      // No triggers left at all.
      expect(await sync([])).toMatchObject({ users: 1, deleted: 1, failures: [] });
      expect(paragon.subscriptions.forUser('user-7')).toEqual([]);
      expect(await managedTriggerUsers(testDb.db)).toEqual([]);
      expect(await sync([])).toMatchObject({ users: 0, deleted: 0 });
    } finally {
      await testDb.close();
    }
  });

  it('records the ids it made, recognises them by id after the webhook URL moved, and holds two triggers of one type under their own keys', async () => {
    const testDb = await createTestDb();
    try {
      const nine = { user: 'user-9', integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', key: 'new-contacts', parameters: { recordType: 'Contact' } };
      const nineToo = { ...nine, key: 'new-deals', parameters: { recordType: 'Deal' } };
      const sync = (triggers: unknown[], publicUrl = receiver.base) =>
        syncTriggers(configSchema.parse({ ...config(triggers), http: { publicUrl } }), { log: quietLog, db: testDb.db });
      expect(await sync([nine, nineToo])).toMatchObject({ created: 2, failures: [] });
      const made = paragon.subscriptions.forUser('user-9');
      const recorded = await testDb.db.selectFrom('paragon_trigger_subscriptions').select(['subscription_id', 'trigger_key']).where('user_id', '=', 'user-9').orderBy('trigger_key').execute();
      expect(recorded).toEqual([
        { subscription_id: made.find((s) => s.parameters['recordType'] === 'Contact')!.id, trigger_key: 'new-contacts' },
        { subscription_id: made.find((s) => s.parameters['recordType'] === 'Deal')!.id, trigger_key: 'new-deals' },
      ]);
      // The public URL changes: the recorded subscriptions are patched to it, none re-created.
      const before = paragon.subscriptions.mutations;
      expect(await sync([nine, nineToo], 'https://moved.example.com')).toMatchObject({ created: 0, updated: 2, deleted: 0 });
      expect(paragon.subscriptions.mutations).toBe(before + 2);
      expect(paragon.subscriptions.forUser('user-9').map((s) => s.id).sort()).toEqual(made.map((s) => s.id).sort());
      expect(await sync([nine, nineToo], 'https://moved.example.com')).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 2 });
      // One trigger removed: its subscription goes, and its record with it.
      expect(await sync([nine], 'https://moved.example.com')).toMatchObject({ deleted: 1, unchanged: 1 });
      expect(await testDb.db.selectFrom('paragon_trigger_subscriptions').select('trigger_key').where('user_id', '=', 'user-9').execute()).toEqual([{ trigger_key: 'new-contacts' }]);
      expect(await sync([], 'https://moved.example.com')).toMatchObject({ deleted: 1 });
    } finally {
      await testDb.close();
    }
  });

  it('fetches each trigger\u2019s example payload: the documented array of flat records, without a version', async () => {
    const examples = await triggerExamples(config([contactCreated, companyCreated]), { log: quietLog });
    expect(examples).toEqual([
      { user: 'user-1', key: 'hubspot:HUBSPOT_RECORD_CREATED', type: 'HUBSPOT_RECORD_CREATED', records: [expect.objectContaining({ id: '1001', email: 'ada@example.com' })], versioned: false },
      { user: 'user-2', key: 'hubspot:HUBSPOT_RECORD_CREATED', type: 'HUBSPOT_RECORD_CREATED', records: [expect.objectContaining({ id: '1001', name: 'Analytical Engines Ltd' })], versioned: false },
    ]);
    const bad = await triggerExamples(config([{ ...contactCreated, type: 'NO_SUCH_TRIGGER' }]), { log: quietLog });
    expect(bad[0]).toMatchObject({ type: 'NO_SUCH_TRIGGER', error: expect.stringContaining('HTTP 400') });
  });

  it('calls an example versioned only when its records carry a last-modified value the receiver would order them by', async () => {
    const answer = (records: unknown[]): typeof fetch => async () => new Response(JSON.stringify(records), { status: 200, headers: { 'content-type': 'application/json' } });
    const deal = { user: 'user-3', integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Deal' } };
    const versioned = async (records: unknown[]) => (await triggerExamples(config([deal]), { log: quietLog, fetch: answer(records) }))[0]?.versioned;
    expect(await versioned([{ id: '1', dealname: 'x', hs_lastmodifieddate: '2026-11-22T10:00:00.000Z' }])).toBe(true);
    expect(await versioned([{ id: '1', properties: { hs_lastmodifieddate: '1790000000000' } }])).toBe(true);
    // A contact's last-modified name on a deal, or no value: the receiver reads such records from HubSpot instead.
    expect(await versioned([{ id: '1', dealname: 'x', lastmodifieddate: '2026-11-22T10:00:00.000Z' }])).toBe(false);
    expect(await versioned([{ id: '1', dealname: 'x', hs_lastmodifieddate: null }])).toBe(false);
  });

  it('`hubsync triggers sync --examples` shows them after the sync report', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hubsync-triggers-'));
    try {
      const file = path.join(dir, 'hubsync.yaml');
      writeFileSync(file, [
        `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }`,
        `http: { publicUrl: "${receiver.base}" }`,
        'paragon:',
        `  projectId: ${PROJECT_ID}`,
        '  signingKey: "${KEY}"',
        `  actionKitUrl: "${sandbox.baseUrl}/actionkit"`,
        `  triggers: [{ user: user-3, integration: hubspot, type: HUBSPOT_RECORD_CREATED, parameters: { recordType: Deal } }]`,
      ].join('\n'));
      const result = await runCli(['triggers', 'sync', '--examples', '--config', file], { KEY: testKeys().privateKeyPem });
      expect(result.code).toBe(0);
      // Log lines are one-line JSON; the report is printed indented after them.
      const out = JSON.parse(result.stdout.slice(result.stdout.indexOf('{\n'))) as { created: number; examples: { records: Record<string, unknown>[]; versioned: boolean }[] };
      expect(out.created).toBe(1);
      expect(out.examples).toEqual([expect.objectContaining({ user: 'user-3', versioned: false, records: [expect.objectContaining({ dealname: 'Sample Deal' })] })]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects tokens signed with another key, and the sync says so at warn', async () => {
    const other = (await import('../../../src/sandbox/paragon/keys.ts')).generateSigningKeyPair();
    const capture = captureLogger();
    const report = await syncTriggers(
      configSchema.parse({ http: { publicUrl: receiver.base }, paragon: { projectId: PROJECT_ID, signingKey: other.privateKeyPem, actionKitUrl: `${sandbox.baseUrl}/actionkit`, triggers: [contactCreated] } }),
      { log: capture.log },
    );
    expect(report.failures).toEqual([{ user: 'user-1', action: 'list', error: expect.stringContaining('HTTP 401') }]);
    const summary = capture.lines().find((l) => String(l.msg).startsWith('paragon trigger subscriptions synced'));
    expect(summary).toMatchObject({ level: 40, failures: 1 });
  });

  it('as a worker service, re-creates a managed subscription someone deleted', async () => {
    const c = config([contactCreated, companyCreated]);
    const service = createTriggerSyncService({ ...c, paragon: { ...c.paragon!, triggersSyncIntervalSeconds: 1 } }, { log: quietLog });
    await service.start();
    try {
      await waitFor(() => service.lastReport() !== undefined, 'the first sync');
      const victim = paragon.subscriptions.forUser('user-2')[0]!;
      paragon.subscriptions.delete(victim);
      await waitFor(() => paragon.subscriptions.forUser('user-2').length === 1, 'the subscription re-created', 10_000);
      expect(paragon.subscriptions.forUser('user-2')[0]?.id).not.toBe(victim.id);
    } finally {
      await service.stop();
    }
  });
});
