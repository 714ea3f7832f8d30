import { SignJWT } from 'jose';
import { createPrivateKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserTokenSigner } from '../../../src/paragon/token.ts';
import type { RunningParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { PROJECT_ID, startParagon, testKeys } from '../outbox/harness.ts';

let sandbox: RunningParagonSandbox;
const signer = () => createUserTokenSigner({ projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, ttlSeconds: 60 });

beforeAll(async () => {
  sandbox = await startParagon({ defaultPortalId: 62515 });
});
afterAll(async () => sandbox?.close());

async function trigger(token: string, body: unknown, project = PROJECT_ID) {
  return fetch(`${sandbox.baseUrl}/projects/${project}/sdk/events/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function token(claims: { sub?: string; aud?: string; exp?: number; iat?: boolean }) {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(claims.exp ?? now + 60);
  if (claims.iat !== false) jwt = jwt.setIssuedAt(now);
  if (claims.sub) jwt = jwt.setSubject(claims.sub);
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(createPrivateKey(testKeys().privateKeyPem));
}

describe('the Paragon sandbox over HTTP', () => {
  it('answers 201 to a well-formed App Event with a valid token and records it', async () => {
    const res = await trigger(await signer().token('user-7'), { name: 'Contact Created', payload: { email: 'a@example.com' } });
    expect(res.status).toBe(201);
    const truth = (await (await fetch(`${sandbox.baseUrl}/__sandbox/paragon/app-events`)).json()) as { events: { name: string; userId: string; payload: unknown }[] };
    expect(truth.events.at(-1)).toMatchObject({ name: 'Contact Created', userId: 'user-7', payload: { email: 'a@example.com' } });
  });

  it('refuses tokens without sub or iat, for another audience, expired, or signed by another key; and other projects', async () => {
    const now = Math.floor(Date.now() / 1000);
    const aud = `useparagon.com/${PROJECT_ID}`;
    expect((await trigger(await token({ aud }), { name: 'x', payload: {} })).status).toBe(401);
    expect((await trigger(await token({ sub: 'u', aud, iat: false }), { name: 'x', payload: {} })).status).toBe(401);
    // sub, iat and exp are what Paragon requires; an audience, when set, must be the project's.
    expect((await trigger(await token({ sub: 'u' }), { name: 'x', payload: {} })).status).toBe(201);
    expect((await trigger(await token({ sub: 'u', aud: 'useparagon.com/other' }), { name: 'x', payload: {} })).status).toBe(401);
    expect((await trigger(await token({ sub: 'u', aud, exp: now - 10 }), { name: 'x', payload: {} })).status).toBe(401);
    expect((await trigger('not-a-jwt', { name: 'x', payload: {} })).status).toBe(401);
    expect((await trigger(await token({ sub: 'u', aud }), { name: 'x', payload: {} }, 'other-project')).status).toBe(404);
    expect((await trigger(await token({ sub: 'u', aud }), { name: 'x' })).status).toBe(400);
  });

  it('throttles beyond the configured rate with Retry-After, and injects 5xx and outages through the control API', async () => {
    const t = await signer().token('u');
    const post = (url: string, body: unknown) => fetch(`${sandbox.baseUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/__sandbox/paragon/faults', { ratePerSecond: 1 });
    expect((await trigger(t, { name: 'a', payload: {} })).status).toBe(201);
    const throttled = await trigger(t, { name: 'a', payload: {} });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    await post('/__sandbox/paragon/faults', { ratePerSecond: 0, errorProbability: 1, errorStatus: 502 });
    expect((await trigger(t, { name: 'a', payload: {} })).status).toBe(502);
    await post('/__sandbox/paragon/faults', { errorProbability: 0 });
    await post('/__sandbox/paragon/outage', { durationMs: 60_000, mode: 'reset' });
    await expect(trigger(t, { name: 'a', payload: {} })).rejects.toThrow();
    await post('/__sandbox/paragon/faults', { outageUntil: 0 });
    expect((await trigger(t, { name: 'a', payload: {} })).status).toBe(201);
    const stats = (await (await fetch(`${sandbox.baseUrl}/__sandbox/paragon/stats`)).json()) as Record<string, number>;
    expect(stats).toMatchObject({ throttled: 1, errors: 1, outage: 1 });
  });

  it('serves /sdk/me and the trigger catalog for the connected user', async () => {
    const t = await signer().token('user-me');
    const me = await (await fetch(`${sandbox.baseUrl}/projects/${PROJECT_ID}/sdk/me`, { headers: { authorization: `Bearer ${t}` } })).json();
    expect(me).toMatchObject({ id: 'user-me', integrations: { hubspot: { enabled: true, credentialStatus: 'VALID', providerId: '62515' } } });
    const catalog = (await (await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/triggers`, { headers: { authorization: `Bearer ${t}` } })).json()) as {
      triggers: { hubspot: { type: string; parameters: { id: string }[] }[] };
    };
    expect(catalog.triggers.hubspot.map((x) => x.type)).toContain('HUBSPOT_RECORD_CREATED');
    expect(catalog.triggers.hubspot[0]?.parameters[0]?.id).toBe('recordType');
    const example = await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/triggers/examples`, {
      method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
      body: JSON.stringify({ integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } }),
    });
    expect(example.status).toBe(200);
  });

  it('validates subscriptions: required parameters, known triggers, connected integration', async () => {
    const t = await signer().token('user-v');
    const create = (body: unknown) => fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, {
      method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    expect((await create({ integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: {} })).status).toBe(400);
    expect((await create({ integration: 'hubspot', type: 'NOPE', parameters: { recordType: 'Contact' } })).status).toBe(400);
    expect((await create({ integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' }, webhookOverride: { url: 'nope' } })).status).toBe(400);
    const ok = await create({ integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ type: 'HUBSPOT_RECORD_CREATED', status: 'ACTIVE', parameters: { recordType: 'Contact' }, dateLastReceivedEvent: null });
    sandbox.paragon.connect('user-v', null);
    expect((await create({ integration: 'hubspot', type: 'HUBSPOT_RECORD_UPDATED', parameters: { recordType: 'Contact' } })).status).toBe(400);
  });

  it('echoes a subscription\'s webhook metadata only while the control API says so, and anything but `echo: true` turns it off', async () => {
    const t = await signer().token('user-echo');
    const listed = async () => {
      const res = await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, { headers: { authorization: `Bearer ${t}` } });
      return ((await res.json()) as { triggers: { hubspot: { webhookOverride: unknown }[] } }).triggers.hubspot[0]!.webhookOverride;
    };
    const echo = async (body: unknown) => (await fetch(`${sandbox.baseUrl}/__sandbox/paragon/echo-webhook-metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
    const webhookOverride = { url: 'https://receiver.example/webhooks/paragon', metadata: { managedBy: 'test' } };
    const created = await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, {
      method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
      body: JSON.stringify({ integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' }, webhookOverride }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { webhookOverride: unknown }).webhookOverride).toEqual({ url: webhookOverride.url });
    try {
      expect(await echo({ echo: true })).toEqual({ echo: true });
      expect(await listed()).toEqual(webhookOverride);
      for (const body of [{ echo: 'true' }, { echo: 1 }, {}, null]) {
        sandbox.paragon.echoWebhookMetadata = true;
        expect(await echo(body)).toEqual({ echo: false });
        expect(await listed()).toEqual({ url: webhookOverride.url });
      }
    } finally {
      sandbox.paragon.echoWebhookMetadata = false;
    }
  });
});
