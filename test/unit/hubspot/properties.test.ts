import { Client } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import type { CallResult } from '../../../src/hubspot/outcome.ts';
import { createPropertyCatalog, listUrlLength } from '../../../src/hubspot/properties.ts';

function catalog(answers: CallResult<string[]>[]) {
  let clock = 0;
  const loads: string[] = [];
  const stale: string[] = [];
  const c = createPropertyCatalog({
    load: async (type) => {
      loads.push(type);
      return answers.shift() ?? { ok: false, failure: 'network', message: 'no more answers' };
    },
    ttlMs: 1000,
    minRefreshMs: 100,
    now: () => clock,
    onStale: (type) => stale.push(type),
  });
  return { c, loads, stale, tick: (ms: number) => (clock += ms) };
}

const names = (...n: string[]): CallResult<string[]> => ({ ok: true, value: n });

describe('the property catalog', () => {
  it('reads a type once while fresh, and again once its list is old', async () => {
    const { c, loads, tick } = catalog([names('a', 'b'), names('a', 'b', 'c')]);
    expect(await c.names('contacts')).toEqual({ ok: true, value: ['a', 'b'] });
    tick(999);
    expect(await c.names('contacts')).toEqual({ ok: true, value: ['a', 'b'] });
    tick(1);
    expect(await c.names('contacts')).toEqual({ ok: true, value: ['a', 'b', 'c'] });
    expect(loads).toEqual(['contacts', 'contacts']);
  });

  it("reads again for a caller whose shared read ended because another caller stopped", async () => {
    const loads: (AbortSignal | undefined)[] = [];
    const c = createPropertyCatalog({
      load: (_type, signal) => {
        loads.push(signal);
        if (!signal) return Promise.resolve(names('a'));
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: false, failure: 'aborted', message: 'stopped' })));
      },
      ttlMs: 1000,
      minRefreshMs: 100,
      now: () => 0,
    });
    const stopping = new AbortController();
    const first = c.names('contacts', stopping.signal);
    const second = c.names('contacts');
    stopping.abort();
    expect(await first).toMatchObject({ ok: false, failure: 'aborted' });
    expect(await second).toEqual({ ok: true, value: ['a'] });
    expect(loads).toHaveLength(2);
  });

  it('shares one read among concurrent callers', async () => {
    const { c, loads } = catalog([names('a')]);
    const all = await Promise.all([c.names('deals'), c.names('deals'), c.names('deals')]);
    expect(all.every((r) => r.ok && r.value?.[0] === 'a')).toBe(true);
    expect(loads).toEqual(['deals']);
  });

  it('re-reads early when data names a property it lacks, at most once per minimum interval', async () => {
    const { c, loads, tick } = catalog([names('a'), names('a', 'new_one'), names('a', 'new_one')]);
    await c.names('contacts');
    c.observe('contacts', ['a']);
    tick(200);
    await c.names('contacts');
    expect(loads).toHaveLength(1);
    c.observe('contacts', ['a', 'new_one']);
    expect(await c.names('contacts')).toEqual({ ok: true, value: ['a', 'new_one'] });
    // A name the API never lists does not cost a read per event.
    c.observe('contacts', ['ghost']);
    tick(50);
    await c.names('contacts');
    expect(loads).toHaveLength(2);
    tick(50);
    await c.names('contacts');
    expect(loads).toHaveLength(3);
  });

  it('keeps the older list when a re-read fails, and has none to give when the first read fails', async () => {
    const { c, stale, tick } = catalog([names('a'), { ok: false, failure: 'server', status: 503, message: 'down' }, { ok: false, failure: 'network', message: 'reset' }]);
    await c.names('contacts');
    tick(1000);
    expect(await c.names('contacts')).toEqual({ ok: true, value: ['a'] });
    expect(stale).toEqual(['contacts']);
    expect(await c.names('tickets')).toMatchObject({ ok: false, failure: 'network' });
  });

  it('remembers that the API lists nothing for a type (a 4xx): reads take default properties', async () => {
    const { c, loads } = catalog([{ ok: false, failure: 'client', status: 403, message: 'missing scope', body: {} }]);
    expect(await c.names('2-99')).toEqual({ ok: true, value: undefined });
    expect(await c.names('2-99')).toEqual({ ok: true, value: undefined });
    expect(loads).toHaveLength(1);
  });
});

describe('list URL length', () => {
  it('is the length of the URL @hubspot/api-client builds for getPage', async () => {
    let seen = '';
    const client = new Client({ accessToken: 't', basePath: 'https://api.example.test', numberOfApiCallRetries: 0 });
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: string | URL | Request) => {
      seen = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return new Response(JSON.stringify({ results: [] }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    try {
      const properties = ['email', 'first name', 'ünïcode_prop', 'a,b'];
      await client.crm.objects.basicApi.getPage('contacts', 100, 'abc', properties, undefined, undefined, false);
      expect(seen).not.toBe('');
      expect(listUrlLength('https://api.example.test/', 'contacts', { limit: 100, after: 'abc', properties, archived: false })).toBe(seen.length);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
