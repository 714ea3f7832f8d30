import { describe, expect, it } from 'vitest';
import { createJournalApi } from '../../../src/journal/api.ts';
import type { TokenSource } from '../../../src/journal/token.ts';

const BASE = 'https://api.example';
const NOW = Date.parse('2026-12-06T12:00:00Z');

/** A fake HubSpot that answers in order, recording each request's URL and headers. */
function fakeHubSpot(answers: (() => Response | Promise<Response>)[]) {
  const requests: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = [];
  const fetchImpl = (async (url: string, init: RequestInit = {}) => {
    requests.push({ url, method: init.method ?? 'GET', headers: { ...(init.headers as Record<string, string> | undefined) }, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) });
    const answer = answers[requests.length - 1];
    if (!answer) throw new Error(`unexpected request ${url}`);
    return answer();
  }) as typeof fetch;
  return { requests, fetchImpl };
}

function tokens(): TokenSource & { invalidated: string[] } {
  let n = 1;
  const invalidated: string[] = [];
  return {
    invalidated,
    token: async () => ({ ok: true, token: `t${n}` }),
    invalidate(token) {
      invalidated.push(token);
      n++;
    },
  };
}

function api(answers: (() => Response | Promise<Response>)[], options: { installPortalId?: number; tokens?: TokenSource } = {}) {
  const hubspot = fakeHubSpot(answers);
  const source = options.tokens ?? tokens();
  return { ...hubspot, tokens: source, api: createJournalApi({ baseUrl: `${BASE}/`, apiVersion: '2026-03', installPortalId: options.installPortalId, tokens: source, timeoutMs: 1000, fetch: hubspot.fetchImpl, now: () => NOW }) };
}

const empty = (status: number) => () => new Response(null, { status });
const entry = (offset: string, expiresAt: unknown = NOW + 60_000) => ({ currentOffset: offset, url: `https://files.example/${offset}?sig=x`, expiresAt });

describe('the Webhooks Journal API client', () => {
  it('reads "nothing there" from a 204, a 404, an empty 200 or a 200 without a URL', async () => {
    for (const answer of [empty(204), empty(404), () => new Response('', { status: 200 }), () => Response.json({ currentOffset: 'o1' })]) {
      const { api: client } = api([answer]);
      expect(await client.first('earliest')).toEqual({ ok: true, value: null });
    }
    const { api: client, requests } = api([() => Response.json(entry('o1', '2026-12-06T12:05:00Z'))], { installPortalId: 62515 });
    expect(await client.first('latest')).toEqual({ ok: true, value: { offset: 'o1', url: 'https://files.example/o1?sig=x', expiresAt: NOW + 300_000 } });
    expect(requests[0]).toMatchObject({ url: `${BASE}/webhooks-journal/journal-local/2026-03/latest?installPortalId=62515`, headers: { authorization: 'Bearer t1' } });
  });

  it('reads a batch leniently: 204 is caught up, 404 an expired offset, entries without a URL or offset are left out', async () => {
    const { api: client, requests } = api([
      empty(204),
      () => Response.json({ status: 'error', message: 'offset not found' }, { status: 404 }),
      () => Response.json({ results: [entry('a/b'), { currentOffset: 'no-url' }, { url: 'https://files.example/x' }, 'junk', null, entry('c', 'not a date')] }, { status: 207 }),
      () => Response.json({ results: 'not a list' }),
    ]);
    expect(await client.next('a/b', 10)).toEqual({ ok: true, value: [] });
    expect(requests[0]!.url).toBe(`${BASE}/webhooks-journal/journal/2026-03/batch/a%2Fb/next/10`);
    expect(await client.next('gone', 10)).toMatchObject({ ok: false, kind: 'expired', message: expect.stringContaining('404: offset not found') });
    const read = await client.next('o', 10);
    expect(read.ok && read.value.map((e) => e.offset)).toEqual(['a/b', 'c']);
    // An expiry HubSpot gave in no form that parses is unknown (NaN), not "already expired".
    expect(read.ok && Number.isNaN(read.value[1]!.expiresAt)).toBe(true);
    expect(await client.next('o', 10)).toEqual({ ok: true, value: [] });
  });

  it('asks for a new token once after a 401, and reports a second 401, a 429 and a lost connection as values', async () => {
    const source = tokens();
    const { api: client, requests } = api(
      [
        empty(401),
        () => Response.json(entry('o1')),
        empty(401),
        empty(401),
        () => new Response('slow down', { status: 429, headers: { 'retry-after': '7' } }),
        () => Promise.reject(new TypeError('fetch failed')),
        () => new Response('<html>bad gateway</html>', { status: 502 }),
      ],
      { tokens: source },
    );
    expect(await client.first('earliest')).toMatchObject({ ok: true, value: { offset: 'o1' } });
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    expect(source.invalidated).toEqual(['t1']);
    expect(await client.first('earliest')).toMatchObject({ ok: false, kind: 'failed', status: 401 });
    expect(await client.next('o1', 5)).toEqual({ ok: false, kind: 'rate_limited', retryAfterMs: 7000, message: expect.stringContaining('429: slow down') });
    expect(await client.next('o1', 5)).toMatchObject({ ok: false, kind: 'failed', status: null, message: expect.stringContaining('fetch failed') });
    expect(await client.next('o1', 5)).toMatchObject({ ok: false, kind: 'failed', status: 502 });
  });

  it('a token that cannot be had fails the call without sending it', async () => {
    const refused: TokenSource = { token: async () => ({ ok: false, error: 'token request answered 400: BAD_CLIENT_ID', status: 400 }), invalidate: () => {} };
    const { api: client, requests } = api([], { tokens: refused });
    expect(await client.next('o1', 5)).toEqual({ ok: false, kind: 'failed', status: 400, message: 'token request answered 400: BAD_CLIENT_ID' });
    expect(requests).toHaveLength(0);
  });

  it('batch-reads offsets and names the ones HubSpot no longer has', async () => {
    const { api: client, requests } = api([() => Response.json({ results: [entry('o2')] })]);
    expect(await client.read(['o1', 'o2'])).toMatchObject({ ok: true, value: { found: [{ offset: 'o2' }], missing: ['o1'] } });
    expect(requests[0]).toMatchObject({ method: 'POST', url: `${BASE}/webhooks-journal/journal/2026-03/batch/read`, body: { inputs: ['o1', 'o2'] } });
  });

  it('downloads a file without the token, and tells an expired URL from a broken file', async () => {
    const ref = { offset: 'o1', url: 'https://files.example/o1?sig=x', expiresAt: NOW + 60_000 };
    const { api: client, requests } = api([
      () => Response.json({ offset: 'o1', journalEvents: [{ action: 'CREATE' }], publishedAt: '2026-12-06T11:59:00Z' }),
      () => Response.json({ events: [] }),
      empty(403),
      empty(404),
      empty(500),
      () => new Response('{"journalEvents": [', { status: 200 }),
      () => Response.json({ journalEvents: 'none' }),
      () => Response.json([]),
    ]);
    expect(await client.download(ref)).toEqual({ ok: true, value: { offset: 'o1', events: [{ action: 'CREATE' }], publishedAt: NOW - 60_000 } });
    expect(requests[0]!.headers.authorization).toBeUndefined();
    const unnamed = await client.download(ref);
    expect(unnamed.ok && unnamed.value.offset === undefined && Number.isNaN(unnamed.value.publishedAt)).toBe(true);
    expect(await client.download(ref)).toMatchObject({ ok: false, kind: 'expired' });
    expect(await client.download(ref)).toMatchObject({ ok: false, kind: 'expired' });
    expect(await client.download(ref)).toMatchObject({ ok: false, kind: 'failed', status: 500 });
    for (let i = 0; i < 3; i++) expect(await client.download(ref)).toMatchObject({ ok: false, kind: 'failed', message: 'the file of o1 is not a journal file' });
    // A URL known to have expired is not tried.
    expect(await client.download({ ...ref, expiresAt: NOW })).toMatchObject({ ok: false, kind: 'expired' });
    expect(requests).toHaveLength(8);
  });

  it('sends other calls with the token and a JSON body, a 404 as expired', async () => {
    const { api: client, requests } = api([() => Response.json({ id: 7 }), empty(404), () => Response.json({ message: 'bad filter' }, { status: 400 })]);
    expect(await client.request('POST', '/webhooks-journal/subscriptions/2026-03', { a: 1 })).toEqual({ ok: true, value: { id: 7 } });
    expect(requests[0]).toMatchObject({ method: 'POST', url: `${BASE}/webhooks-journal/subscriptions/2026-03`, headers: { authorization: 'Bearer t1', 'content-type': 'application/json' }, body: { a: 1 } });
    expect(await client.request('DELETE', '/webhooks-journal/subscriptions/2026-03/7')).toMatchObject({ ok: false, kind: 'expired' });
    expect(await client.request('POST', '/webhooks-journal/subscriptions/2026-03/filters', {})).toMatchObject({ ok: false, kind: 'failed', status: 400, message: expect.stringContaining('400: bad filter') });
  });
});
