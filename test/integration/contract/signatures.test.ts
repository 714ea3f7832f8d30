/**
 * The stand-in's webhook signatures against `@hubspot/api-client`'s own `Signature` helper, for v1
 * (Webhooks API batches), v2 (workflow posts) and v3 (both), with a target URL carrying encoded
 * characters and bodies with non-ASCII text; and against hubsync's verifier.
 */
import { Signature } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { verifyHubSpot } from '../../../src/webhooks/hubspot-signature.ts';
import { startReceiver, type Received } from '../sandbox/receiver.ts';

const SECRET = 'contract-client-secret-ü';
/** `%40` is one of the escapes HubSpot decodes before a v3 signature; `%C3%A4` (ä) is not. */
const PATH = '/hooks/hub%40spot?to=ops%40example.com&city=K%C3%B8benhavn';
/** The URI as HubSpot's v3 signature covers it (its listed escapes decoded). */
const V3_PATH = '/hooks/hub@spot?to=ops@example.com&city=K%C3%B8benhavn';

let sandbox: Sandbox;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  sandbox = await startSandbox({
    timeScale: 0.01,
    hubspot: {
      apps: [{ appId: 77, clientSecret: SECRET, targetUrl: `${receiver.base}${PATH}&kind=batch`, subscriptions: [{ subscriptionType: 'contact.creation' }, { subscriptionType: 'contact.propertyChange', propertyName: 'firstname' }] }],
      workflows: [{ workflowId: 5, appId: 77, clientSecret: SECRET, targetUrl: `${receiver.base}${PATH}&kind=workflow`, objectType: 'contacts', trigger: 'creation' }],
    },
  });
  sandbox.hubspot.create('contacts', { firstname: 'Zoë 😀 Ångström', city: 'København' });
  await sandbox.idle();
});

afterAll(async () => {
  await sandbox?.close();
  await receiver?.close();
});

const header = (r: Received, name: string) => String(r.headers[name]);
const received = (kind: string) => receiver.received.filter((r) => r.url.endsWith(`kind=${kind}`));

describe('stand-in signatures, checked by @hubspot/api-client\u2019s Signature helper', () => {
  it('Webhooks API batches: v1 over the raw bytes, v3 over the decoded URI', () => {
    const [batch] = received('batch');
    expect(batch).toBeDefined();
    const body = batch!.raw.toString('utf8');
    expect(body).toContain('Zoë 😀 Ångström');
    expect(header(batch!, 'x-hubspot-signature-version')).toBe('v1');
    expect(Signature.isValid({ signatureVersion: 'v1', signature: header(batch!, 'x-hubspot-signature'), clientSecret: SECRET, requestBody: body })).toBe(true);
    const v3 = { signatureVersion: 'v3', signature: header(batch!, 'x-hubspot-signature-v3'), clientSecret: SECRET, requestBody: body, method: 'POST', timestamp: Number(header(batch!, 'x-hubspot-request-timestamp')) };
    expect(Signature.isValid({ ...v3, url: `${receiver.base}${V3_PATH}&kind=batch` })).toBe(true);
    // The client's helper does not decode: over the URI as sent the digest differs, which is why hubsync decodes.
    expect(Signature.isValid({ ...v3, url: `${receiver.base}${PATH}&kind=batch` })).toBe(false);
  });

  it('workflow posts: v2 over the URI as sent, v3 over the decoded URI', () => {
    const [post] = received('workflow');
    expect(post).toBeDefined();
    const body = post!.raw.toString('utf8');
    expect(header(post!, 'x-hubspot-signature-version')).toBe('v2');
    expect(Signature.isValid({ signatureVersion: 'v2', signature: header(post!, 'x-hubspot-signature'), clientSecret: SECRET, requestBody: body, method: 'POST', url: `${receiver.base}${PATH}&kind=workflow` })).toBe(true);
    expect(Signature.isValid({ signatureVersion: 'v3', signature: header(post!, 'x-hubspot-signature-v3'), clientSecret: SECRET, requestBody: body, method: 'POST', url: `${receiver.base}${V3_PATH}&kind=workflow`, timestamp: Number(header(post!, 'x-hubspot-request-timestamp')) })).toBe(true);
  });

  it('and hubsync\u2019s verifier accepts every one of them', () => {
    const all = [...received('batch'), ...received('workflow')];
    expect(all.map((r) => r.url.replace(/.*kind=/, '')).sort()).toEqual(expect.arrayContaining(['batch', 'workflow']));
    for (const r of all) {
      const verification = verifyHubSpot(
        { method: 'POST', uri: `${receiver.base}${r.url}`, body: r.raw, headers: r.headers },
        { apps: [{ appId: 77, clientSecret: SECRET }], now: Date.now(), maxAgeMs: 300_000 },
      );
      expect(verification).toMatchObject({ ok: true, version: 'v3', appId: 77 });
    }
  });
});
