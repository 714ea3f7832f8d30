import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareValues, matchesFilter, matchesFilterGroups, parseSearchRequest, runSearch, type SearchRequest } from '../../../src/sandbox/hubspot/search.ts';

const req = (over: Partial<SearchRequest> = {}): SearchRequest => ({ filterGroups: [], sort: null, query: null, properties: null, limit: 100, offset: 0, ...over });
const props = { email: 'a@example.com', amount: '250', lastmodifieddate: '2026-11-22T08:00:00.000Z', hs_object_id: '1001' };

describe('search filters', () => {
  it('compare numbers, epoch ms and ISO timestamps numerically', () => {
    expect(compareValues('9', '10')).toBeLessThan(0);
    expect(compareValues('2026-11-22T08:00:00.000Z', String(Date.parse('2026-11-22T08:00:00.000Z')))).toBe(0);
    expect(compareValues('b', 'A')).toBeGreaterThan(0);
  });

  it('implement each operator', () => {
    const ts = Date.parse(props.lastmodifieddate);
    const cases: [Parameters<typeof matchesFilter>[1], boolean][] = [
      [{ propertyName: 'amount', operator: 'GT', value: '99' }, true],
      [{ propertyName: 'amount', operator: 'GTE', value: '250' }, true],
      [{ propertyName: 'amount', operator: 'LT', value: '250' }, false],
      [{ propertyName: 'amount', operator: 'LTE', value: '250' }, true],
      [{ propertyName: 'lastmodifieddate', operator: 'EQ', value: String(ts) }, true],
      [{ propertyName: 'lastmodifieddate', operator: 'NEQ', value: String(ts) }, false],
      [{ propertyName: 'lastmodifieddate', operator: 'BETWEEN', value: String(ts - 1), highValue: String(ts) }, true],
      [{ propertyName: 'email', operator: 'IN', values: ['x@example.com', 'A@example.com'] }, true],
      [{ propertyName: 'email', operator: 'NOT_IN', values: ['a@example.com'] }, false],
      [{ propertyName: 'email', operator: 'HAS_PROPERTY' }, true],
      [{ propertyName: 'phone', operator: 'HAS_PROPERTY' }, false],
      [{ propertyName: 'phone', operator: 'NOT_HAS_PROPERTY' }, true],
      [{ propertyName: 'phone', operator: 'EQ', value: '' }, false],
      [{ propertyName: 'email', operator: 'CONTAINS_TOKEN', value: 'example' }, true],
    ];
    for (const [f, expected] of cases) expect([f, matchesFilter(props, f)]).toEqual([f, expected]);
  });

  it('OR groups and AND filters', () => {
    const yes = { filters: [{ propertyName: 'amount', operator: 'GT', value: '1' }] };
    const no = { filters: [{ propertyName: 'amount', operator: 'GT', value: '1' }, { propertyName: 'phone', operator: 'HAS_PROPERTY' }] };
    expect(matchesFilterGroups(props, [no, yes])).toBe(true);
    expect(matchesFilterGroups(props, [no])).toBe(false);
    expect(matchesFilterGroups(props, [])).toBe(true);
  });

  it('validate filter counts, limit and operators', () => {
    const f = { propertyName: 'x', operator: 'EQ', value: '1' };
    expect(parseSearchRequest({ filterGroups: Array.from({ length: 6 }, () => ({ filters: [f] })) }).ok).toBe(false);
    expect(parseSearchRequest({ filterGroups: [{ filters: Array.from({ length: 7 }, () => f) }] }).ok).toBe(false);
    expect(parseSearchRequest({ filterGroups: Array.from({ length: 4 }, () => ({ filters: Array.from({ length: 5 }, () => f) })) }).ok).toBe(false);
    expect(parseSearchRequest({ limit: 201 }).ok).toBe(false);
    expect(parseSearchRequest({ filterGroups: [{ filters: [{ propertyName: 'x', operator: 'LIKE' }] }] }).ok).toBe(false);
    const ok = parseSearchRequest({ sorts: ['-createdate', 'email'], after: '200', limit: 200 });
    expect(ok.ok && ok.request.sort).toEqual({ propertyName: 'createdate', direction: 'DESCENDING' });
    expect(ok.ok && ok.request.offset).toBe(200);
  });
});

describe('runSearch', () => {
  const objects = Array.from({ length: 30 }, (_, i) => ({ id: String(995 + i), properties: { n: String(i % 3) } }));

  it('sorts ids numerically and breaks ties by id', () => {
    const page = runSearch(objects, req({ sort: { propertyName: 'n', direction: 'DESCENDING' }, limit: 5 }));
    expect(page.ok && page.results.map((r) => r.id)).toEqual(['997', '1000', '1003', '1006', '1009']);
  });

  it('pages without gaps or repeats, whatever the page size', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), (limit) => {
      const seen: string[] = [];
      let offset = 0;
      for (;;) {
        const page = runSearch(objects, req({ limit, offset }));
        if (!page.ok) throw new Error(page.message);
        seen.push(...page.results.map((r) => r.id));
        if (page.nextAfter === null) break;
        offset = Number(page.nextAfter);
      }
      expect(seen).toEqual(objects.map((o) => o.id));
    }));
  });

  it('refuses to page at or past 10,000 results but counts them all', () => {
    const many = Array.from({ length: 10_050 }, (_, i) => ({ id: String(i + 1), properties: {} }));
    const last = runSearch(many, req({ offset: 9_950, limit: 100 }));
    expect(last.ok && [last.total, last.results.length, last.nextAfter]).toEqual([10_050, 50, '10000']);
    expect(runSearch(many, req({ offset: 10_000 })).ok).toBe(false);
  });
});
