import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { startReceiver } from './receiver.ts';

let receiver: Awaited<ReturnType<typeof startReceiver>>;
const started: Sandbox[] = [];
const start = async (...args: Parameters<typeof startSandbox>) => {
  const s = await startSandbox(...args);
  started.push(s);
  return s;
};

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  await receiver.close();
});

describe('workflow "send a webhook" posts', () => {
  it('posts one v2-signed body of properties per enrolled record', async () => {
    const url = `${receiver.base}/workflow?id=7`;
    const sandbox = await start({
      timeScale: 0.05,
      hubspot: { workflows: [{ workflowId: 7, clientSecret: 'wf-secret', targetUrl: url, objectType: 'contacts', filters: [{ propertyName: 'lifecyclestage', operator: 'EQ', value: 'customer' }] }] },
    });
    const lead = sandbox.hubspot.create('contacts', { email: 'lead@example.com', lifecyclestage: 'lead' });
    const customer = sandbox.hubspot.create('contacts', { email: 'jürgen@example.com', lifecyclestage: 'customer' });
    await sandbox.idle();
    const posts = receiver.received.filter((r) => r.url === '/workflow?id=7');
    expect(posts).toHaveLength(1);
    const post = posts[0];
    if (!post) return;
    expect(post.body).toMatchObject({ email: 'jürgen@example.com', lifecyclestage: 'customer', hs_object_id: customer.id });
    expect(post.headers['x-hubspot-signature-version']).toBe('v2');
    const v2 = createHash('sha256').update(Buffer.concat([Buffer.from(`wf-secret` + `POST${url}`, 'utf8'), post.raw])).digest('hex');
    expect(post.headers['x-hubspot-signature']).toBe(v2);
    expect(post.headers['x-hubspot-signature-v3']).toBeTruthy();
    sandbox.hubspot.update('contacts', lead.id, { lifecyclestage: 'customer' });
    await sandbox.idle();
    expect(receiver.received.filter((r) => r.url === '/workflow?id=7')).toHaveLength(2);
    expect(sandbox.hubspot.workflowDeliveries().every((d) => d.delivered)).toBe(true);
  });
});

describe('workflow post retries, as HubSpot documents them', () => {
  const workflow = (path: string) => ({ workflowId: 8, clientSecret: 'wf', targetUrl: `${receiver.base}${path}`, objectType: 'contacts' });
  const posts = (path: string) => receiver.received.filter((r) => r.url === path);
  // At these time scales HubSpot's 30 s answer timeout would be a few wall ms: give the receiver 2 s.
  const workflowDelivery = { timeoutMs: 2e7 };

  it('never retries a 4xx other than 429', async () => {
    receiver.setResponder((r) => ({ status: r.url === '/wf-400' ? 400 : 204 }));
    const sandbox = await start({ timeScale: 1e-4, hubspot: { workflows: [workflow('/wf-400')], workflowDelivery } });
    sandbox.hubspot.create('contacts', { email: 'refused@example.com' });
    await sandbox.idle();
    expect(posts('/wf-400')).toHaveLength(1);
    expect(sandbox.hubspot.workflowDeliveries()).toMatchObject([{ delivered: false, gaveUp: true }]);
  });

  it('retries a 429 after its Retry-After (milliseconds) and 5xx until one succeeds', async () => {
    receiver.setResponder((r) => {
      if (r.url !== '/wf-flaky') return { status: 204 };
      const n = posts('/wf-flaky').length;
      return { status: n === 1 ? 429 : n === 2 ? 503 : 204 };
    });
    const sandbox = await start({ timeScale: 1e-4, hubspot: { workflows: [workflow('/wf-flaky')], workflowDelivery } });
    sandbox.hubspot.create('contacts', { email: 'flaky@example.com' });
    await sandbox.idle();
    expect(posts('/wf-flaky')).toHaveLength(3);
    const [record] = sandbox.hubspot.workflowDeliveries();
    expect(record?.attempts.map((a) => a.status)).toEqual([429, 503, 204]);
    expect(record).toMatchObject({ delivered: true, gaveUp: false });
  });

  it('keeps retrying a failing receiver, then gives up once three (scaled) days have passed', async () => {
    receiver.setResponder((r) => ({ status: r.url === '/wf-down' ? 500 : 204 }));
    // One HubSpot day is 0.86 s of wall time here: three days, 2.6 s; eight hours, 0.29 s.
    const sandbox = await start({ timeScale: 1e-5, hubspot: { workflows: [workflow('/wf-down')], workflowDelivery: { timeoutMs: 2e8 } } });
    sandbox.hubspot.create('contacts', { email: 'down@example.com' });
    await sandbox.idle();
    const [record] = sandbox.hubspot.workflowDeliveries();
    expect(record).toMatchObject({ delivered: false, gaveUp: true });
    // Far more than the Webhooks API's ten retries: the window, not a count, ends them.
    expect(record?.attempts.length).toBeGreaterThan(11);
    expect(record?.attempts.at(-1)).toMatchObject({ status: 500, final: true });
  });
});

describe('the deterministic change stream', () => {
  it('gives the same operations and the same truth for the same seed', async () => {
    const run = async (seed: number) => {
      const s = await start({ timeScale: 0.05 });
      s.hubspot.seed({ objectType: 'contacts', count: 20, at: Date.parse('2026-11-01T00:00:00Z') });
      s.hubspot.seed({ objectType: 'companies', count: 5, at: Date.parse('2026-11-01T00:00:00Z') });
      const ops = s.hubspot.runStream({ seed, count: 400, startAt: Date.parse('2026-11-02T00:00:00Z'), stepMs: 1_000 });
      return { ops, truth: s.hubspot.truth() };
    };
    const a = await run(42);
    const b = await run(42);
    const c = await run(43);
    expect(b.ops).toEqual(a.ops);
    expect(b.truth).toEqual(a.truth);
    expect(c.ops).not.toEqual(a.ops);
    const kinds = new Set(a.ops.map((o) => o.kind));
    for (const k of ['create', 'update', 'delete', 'restore', 'merge', 'privacyDelete', 'associate', 'dissociate']) expect(kinds).toContain(k);
    const objects = a.truth[0]?.objects ?? [];
    expect(objects.some((o) => o.mergedInto !== null)).toBe(true);
    expect(objects.some((o) => o.privacyDeleted)).toBe(true);
    expect(a.truth[0]?.associations.length).toBeGreaterThan(0);
  });

  it('is reachable over the control surface, and a merged id reads as its new record over the API', async () => {
    const s = await start({ timeScale: 0.05 });
    const post = (path: string, body: unknown) => fetch(`${s.baseUrl}/__sandbox/hubspot/${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    }).then((r) => r.json() as Promise<Record<string, unknown>>);
    const seeded = await post('seed', { objectType: 'contacts', count: 2, at: '2026-11-22T08:00:00.000Z' });
    const merged = await post('mutate', { op: 'merge', objectType: 'contacts', primaryObjectId: seeded['firstId'], objectIdToMerge: seeded['lastId'] });
    const res = await fetch(`${s.baseUrl}/crm/v3/objects/contacts/${String(seeded['lastId'])}?properties=hs_merged_object_ids`, { headers: { authorization: 'Bearer pat-sandbox-62515' } });
    const body = await res.json() as { id: string; properties: Record<string, string> };
    expect(body.id).toBe(merged['id']);
    expect(body.properties['hs_merged_object_ids']).toBe(`${String(seeded['firstId'])};${String(seeded['lastId'])}`);
    const stream = await post('stream', { seed: 5, count: 50 });
    expect((stream['ops'] as unknown[]).length).toBe(50);
    const truth = await fetch(`${s.baseUrl}/__sandbox/hubspot/truth`).then((r) => r.json() as Promise<{ portals: { objects: unknown[] }[] }>);
    expect(truth.portals[0]?.objects.length).toBeGreaterThan(3);
  });
});
