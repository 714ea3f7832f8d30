/**
 * hubsync's Paragon requests and the Paragon stand-in's answers against the reference sheet
 * (`reference/paragon.md`, from docs.useparagon.com): the User Token's claims, the App Event
 * request, the Triggers API shapes, and the trigger webhook's body and signature.
 */
import { createHmac } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppEventsClient } from '../../../src/paragon/app-events.ts';
import { createUserTokenSigner } from '../../../src/paragon/token.ts';
import { createTriggersApi } from '../../../src/paragon/triggers-api.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { verifyParagon } from '../../../src/webhooks/paragon-signature.ts';
import { startReceiver } from '../sandbox/receiver.ts';
import { PROJECT_ID, testKeys } from '../outbox/harness.ts';

const SECRET = 'paragon-contract-secret';
let sandbox: Sandbox;
let capture: Awaited<ReturnType<typeof startReceiver>>;
const signer = () => createUserTokenSigner({ projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, ttlSeconds: 3600 });

beforeAll(async () => {
  capture = await startReceiver(() => ({ status: 201 }));
  sandbox = await startSandbox({ timeScale: 0.01, paragon: { projectId: PROJECT_ID, publicKeyPem: testKeys().publicKeyPem, webhookSecret: SECRET } });
});

afterAll(async () => {
  await sandbox?.close();
  await capture?.close();
});

describe('Paragon, as the reference sheet describes it', () => {
  it('User Token: RS256, with sub, iat and exp (an hour) and the project audience; the stand-in verifies it', async () => {
    const token = await signer().token('user-42');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: 'user-42', aud: `useparagon.com/${PROJECT_ID}` });
    expect(Number.isInteger(claims.iat) && Number.isInteger(claims.exp)).toBe(true);
    expect(claims.exp! - claims.iat!).toBe(3600);
    await expect(jwtVerify(token, await importSPKI(testKeys().publicKeyPem, 'RS256'), { requiredClaims: ['sub', 'iat', 'exp'] })).resolves.toBeDefined();
    expect(await sandbox.paragon!.verifyToken(`Bearer ${token}`)).toMatchObject({ ok: true, sub: 'user-42' });
  });

  it('App Event: POST /projects/<id>/sdk/events/trigger, bearer token, JSON {name, payload}; 201 from the stand-in', async () => {
    const token = await signer().token('user-42');
    const event = { name: 'Contact Created', payload: { email: 'zoë@example.com', n: 1 } };
    const toCapture = await createAppEventsClient({ baseUrl: capture.base, projectId: PROJECT_ID, timeoutMs: 5000 })(token, event);
    expect(toCapture).toMatchObject({ kind: 'response', status: 201 });
    const sent = capture.received.at(-1)!;
    expect(sent.url).toBe(`/projects/${PROJECT_ID}/sdk/events/trigger`);
    expect(sent.headers['authorization']).toBe(`Bearer ${token}`);
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.body).toEqual(event);
    const toStandIn = await createAppEventsClient({ baseUrl: sandbox.baseUrl, projectId: PROJECT_ID, timeoutMs: 5000 })(token, event);
    expect(toStandIn).toMatchObject({ kind: 'response', status: 201 });
    expect(sandbox.paragon!.appEvents.at(-1)).toMatchObject({ name: event.name, payload: event.payload, userId: 'user-42' });
  });

  it('Triggers API: subscriptions, their listing, examples; and the trigger webhook body and signature', async () => {
    const api = createTriggersApi({ actionKitUrl: `${sandbox.baseUrl}/actionkit`, projectId: PROJECT_ID, timeoutMs: 5000 });
    const token = await signer().token('user-42');
    const url = `${capture.base}/webhooks/paragon?trigger=t`;
    const created = await api.create(token, { integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' }, webhookOverride: { url, metadata: { managedBy: 'hubsync' } } });
    expect(created.ok).toBe(true);
    const subscription = created.ok ? created.value : undefined;
    // {id, type, parameters, status: ACTIVE|ERRORED, dateCreated, dateLastReceivedEvent, credentialId, error?, webhookOverride?}
    expect(Object.keys(subscription!).sort()).toEqual(['credentialId', 'dateCreated', 'dateLastReceivedEvent', 'id', 'integration', 'parameters', 'status', 'type', 'webhookOverride']);
    expect(subscription).toMatchObject({ type: 'HUBSPOT_RECORD_CREATED', status: 'ACTIVE', parameters: { recordType: 'Contact' }, webhookOverride: { url } });
    const dateCreated = (subscription as unknown as { dateCreated: string }).dateCreated;
    expect(new Date(dateCreated).toISOString()).toBe(dateCreated);
    // Listing: {triggers: {<integration>: [subscription…]}}, webhookOverride as {url} only.
    const raw = await (await fetch(`${sandbox.baseUrl}/actionkit/projects/${PROJECT_ID}/trigger-subscriptions`, { headers: { authorization: `Bearer ${token}` } })).json() as { triggers: Record<string, Record<string, unknown>[]> };
    expect(Object.keys(raw.triggers)).toEqual(['hubspot']);
    expect(raw.triggers['hubspot']![0]!['webhookOverride']).toEqual({ url });
    // Examples: an array of flat records.
    const examples = await api.examples(token, { integration: 'hubspot', type: 'HUBSPOT_RECORD_CREATED', parameters: { recordType: 'Contact' } });
    expect(examples.ok && Array.isArray(examples.value) && typeof examples.value[0]?.['id']).toBe('string');

    const contact = sandbox.hubspot.create('contacts', { email: 'hook@example.com', firstname: 'Hü' });
    await sandbox.idle();
    const hook = capture.received.find((r) => r.url.startsWith('/webhooks/paragon') && JSON.stringify(r.body).includes(contact.id))!;
    expect(hook).toBeDefined();
    const body = hook.body as Record<string, unknown>;
    // {eventId (uuid), userId, integration, triggerType, triggerSubscriptionId, credentialId, projectId, dateReceived, payload, triggerSubscriptionMetadata}
    expect(Object.keys(body).sort()).toEqual(['credentialId', 'dateReceived', 'eventId', 'integration', 'payload', 'projectId', 'triggerSubscriptionId', 'triggerSubscriptionMetadata', 'triggerType', 'userId']);
    expect(body).toMatchObject({ userId: 'user-42', integration: 'hubspot', triggerType: 'HUBSPOT_RECORD_CREATED', triggerSubscriptionId: subscription!.id, projectId: PROJECT_ID, triggerSubscriptionMetadata: { managedBy: 'hubsync' } });
    expect(body['eventId']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(body['payload']).toEqual([expect.objectContaining({ id: contact.id, email: 'hook@example.com', firstname: 'Hü' })]);
    // x-paragon-signature: v1=<HMAC-SHA256 of the raw body, keyed by the signing secret>
    const signature = String(hook.headers['x-paragon-signature']);
    expect(signature).toBe(`v1=${createHmac('sha256', SECRET).update(hook.raw).digest('hex')}`);
    expect(verifyParagon(signature, hook.raw, SECRET)).toEqual({ ok: true });
    expect((await api.remove(token, subscription!.id)).ok).toBe(true);
  });
});
