import { Client } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';

let sandbox: Sandbox;
const clientFor = (token: string) => new Client({ accessToken: token, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
type ApiError = { code: number; body: Record<string, unknown>; headers: Record<string, string> };
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as ApiError);

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.1, // the 10 s window lasts 1 s, the search second 100 ms
    hubspot: {
      accounts: [
        { portalId: 1, accessToken: 'pat-ten', limits: { perTenSeconds: 5 } },
        { portalId: 2, accessToken: 'pat-search', limits: { searchPerSecond: 2 } },
        { portalId: 3, accessToken: 'pat-daily', limits: { daily: 3 }, retryAfter: true },
        { portalId: 4, accessToken: 'oauth-token', tier: 'oauth' },
      ],
    },
  });
});

afterAll(async () => {
  await sandbox.close();
});

describe('rate limits', () => {
  it('sends decreasing X-HubSpot-RateLimit-* headers, then a TEN_SECONDLY_ROLLING 429 the client surfaces as ApiException', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer pat-ten' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-hubspot-ratelimit-max')).toBe('5');
      expect(res.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('1000');
      expect(res.headers.get('x-hubspot-ratelimit-daily')).toBe('625000');
      remaining.push(Number(res.headers.get('x-hubspot-ratelimit-remaining')));
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);

    const err = await failure(clientFor('pat-ten').crm.contacts.basicApi.getPage(1));
    expect(err.code).toBe(429);
    // The client deserialises error bodies into its Error model, keeping message and correlationId only.
    expect(err.body).toMatchObject({ message: 'You have reached your ten_secondly_rolling limit.' });
    expect(err.headers['x-hubspot-ratelimit-remaining']).toBe('0');
    expect(err.headers['x-hubspot-ratelimit-max']).toBe('5');

    const raw = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer pat-ten' } });
    expect(raw.status).toBe(429);
    const body = await raw.json() as Record<string, string>;
    expect(Object.keys(body)).toEqual(['status', 'message', 'errorType', 'correlationId', 'policyName', 'groupName']);
    expect(body).toMatchObject({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' });
    expect(raw.headers.get('retry-after')).toBeNull();

    await new Promise((r) => setTimeout(r, 1_050));
    const after = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer pat-ten' } });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-hubspot-ratelimit-remaining')).toBe('4');
  });

  it('limits search per second with SECONDLY and sends no rate-limit headers on search', async () => {
    const client = clientFor('pat-search');
    const ok = await client.crm.objects.searchApi.doSearchWithHttpInfo('contacts', { filterGroups: [], limit: 1 } as never);
    expect(Object.keys(ok.headers).filter((h) => h.startsWith('x-hubspot-ratelimit'))).toEqual([]);
    await new Promise((r) => setTimeout(r, 110));
    // Sent together, so they land in one (scaled) second: two pass, the rest are refused.
    const settled = await Promise.allSettled(Array.from({ length: 4 }, () => client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [], limit: 1 } as never)));
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2);
    const err = (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason as ApiError;
    expect(err.code).toBe(429);
    expect(err.body).toMatchObject({ message: 'You have reached your secondly limit.' });
    expect(Object.keys(err.headers).filter((h) => h.startsWith('x-hubspot-ratelimit'))).toEqual([]);
    // Search does not consume the 10-second window.
    const list = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer pat-search' } });
    expect(list.headers.get('x-hubspot-ratelimit-remaining')).toBe('189');
  });

  it('enforces the daily limit with DAILY, Retry-After when configured, and resets at the scaled midnight', async () => {
    const get = () => fetch(`${sandbox.baseUrl}/crm/v3/objects/deals?limit=1`, { headers: { authorization: 'Bearer pat-daily' } });
    const daily: string[] = [];
    for (let i = 0; i < 3; i++) daily.push((await get()).headers.get('x-hubspot-ratelimit-daily-remaining') ?? '');
    expect(daily).toEqual(['2', '1', '0']);
    const res = await get();
    expect(res.status).toBe(429);
    expect((await res.json() as { policyName: string }).policyName).toBe('DAILY');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    sandbox.hubspot.resetLimits(3);
    expect((await get()).status).toBe(200);
  });

  it('omits daily headers for OAuth apps, and can force any policy or a 5xx from the control surface', async () => {
    const res = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer oauth-token' } });
    expect(res.headers.get('x-hubspot-ratelimit-max')).toBe('110');
    expect(res.headers.get('x-hubspot-ratelimit-daily')).toBeNull();

    const control = (body: unknown) => fetch(`${sandbox.baseUrl}/__sandbox/hubspot/limits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await control({ action: 'exhaust', policy: 'TEN_SECONDLY_ROLLING', portalId: 4 })).status).toBe(200);
    const forced = await failure(clientFor('oauth-token').crm.contacts.basicApi.getPage(1));
    expect(forced.code).toBe(429);
    await control({ action: 'reset', portalId: 4 });
    await control({ action: 'failNext', status: 503, count: 2, portalId: 4 });
    expect((await failure(clientFor('oauth-token').crm.contacts.basicApi.getPage(1))).code).toBe(503);
    expect((await failure(clientFor('oauth-token').crm.contacts.basicApi.getPage(1))).code).toBe(503);
    expect((await clientFor('oauth-token').crm.contacts.basicApi.getPage(1)).results).toEqual([]);
  });

  it('an injected 429 carries Retry-After when the account announces it, and error bodies name the header\'s correlation id', async () => {
    const control = (body: unknown) => fetch(`${sandbox.baseUrl}/__sandbox/hubspot/limits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await control({ action: 'reset', portalId: 3 });
    await control({ action: 'failNext', status: 429, count: 1, portalId: 3 });
    const limited = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts?limit=1`, { headers: { authorization: 'Bearer pat-daily' } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    const id = async (res: Response) => ((await res.json()) as { correlationId: string }).correlationId;
    expect(await id(limited)).toBe(limited.headers.get('x-hubspot-correlation-id'));
    const missing = await fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts/987654321`, { headers: { authorization: 'Bearer oauth-token' } });
    expect(missing.status).toBe(404);
    expect(await id(missing)).toBe(missing.headers.get('x-hubspot-correlation-id'));
  });
});
