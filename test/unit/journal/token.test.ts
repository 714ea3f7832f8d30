import { describe, expect, it } from 'vitest';
import { createTokenSource } from '../../../src/journal/token.ts';

function fakeTokenEndpoint(answers: (() => Response)[]) {
  const requests: URLSearchParams[] = [];
  const fetchImpl = (async (_url: string, init: RequestInit) => {
    requests.push(new URLSearchParams(String(init.body)));
    const answer = answers[Math.min(requests.length - 1, answers.length - 1)]!;
    return answer();
  }) as typeof fetch;
  return { requests, fetchImpl };
}

const granted = (token: string, expiresIn = 1800) => () => Response.json({ access_token: token, expires_in: expiresIn, token_type: 'bearer', token_use: 'client_credentials' });

describe('client-credentials token', () => {
  it('asks with the form HubSpot expects, reuses the token, and asks again shortly before it expires', async () => {
    let now = 1_000_000;
    const { requests, fetchImpl } = fakeTokenEndpoint([granted('t1'), granted('t2')]);
    const source = createTokenSource({ url: 'https://api.example/oauth/v1/token', clientId: 'id', clientSecret: 's', scopes: ['a', 'b'], timeoutMs: 1000, fetch: fetchImpl, now: () => now });
    // Callers arriving together share one request.
    const [x, y] = await Promise.all([source.token(), source.token()]);
    expect([x, y]).toEqual([{ ok: true, token: 't1' }, { ok: true, token: 't1' }]);
    expect(requests).toHaveLength(1);
    expect(Object.fromEntries(requests[0]!)).toEqual({ grant_type: 'client_credentials', client_id: 'id', client_secret: 's', scope: 'a b' });
    now += 1800_000 - 61_000;
    expect(await source.token()).toEqual({ ok: true, token: 't1' });
    now += 2_000; // within the last minute
    expect(await source.token()).toEqual({ ok: true, token: 't2' });
    expect(requests).toHaveLength(2);
  });

  it('forgets a token a 401 refused, and reports a refused request as a value', async () => {
    const { requests, fetchImpl } = fakeTokenEndpoint([granted('t1'), granted('t2'), () => Response.json({ status: 'BAD_CLIENT_ID', message: 'missing or unknown client id' }, { status: 400 })]);
    const source = createTokenSource({ url: 'u', clientId: 'id', clientSecret: 's', scopes: [], timeoutMs: 1000, fetch: fetchImpl });
    expect(await source.token()).toEqual({ ok: true, token: 't1' });
    source.invalidate('other'); // not the cached one: kept
    expect(await source.token()).toEqual({ ok: true, token: 't1' });
    source.invalidate('t1');
    expect(await source.token()).toEqual({ ok: true, token: 't2' });
    source.invalidate('t2');
    expect(await source.token()).toEqual({ ok: false, status: 400, error: 'token request answered 400: BAD_CLIENT_ID: missing or unknown client id' });
    expect(requests).toHaveLength(3);
  });
});
