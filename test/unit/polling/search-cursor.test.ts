import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HubSpotObject } from '../../../src/hubspot/objects.ts';
import { advance, comparePositions, planQuery, startPosition, type SearchPosition } from '../../../src/polling/search-cursor.ts';

const obj = (id: number, ts: number): HubSpotObject => ({ id: String(id), properties: { hs_object_id: String(id), lastmodifieddate: new Date(ts).toISOString() } });

/** HubSpot search over an in-memory set, with ties in arbitrary (not id) order for range queries. */
function search(records: { id: number; ts: number }[], request: ReturnType<typeof planQuery>['request'], shuffleSeed: number): HubSpotObject[] {
  const filters = request.filterGroups[0]?.filters ?? [];
  const hits = records.filter((r) =>
    filters.every((f) => {
      const v = f.propertyName === 'hs_object_id' ? r.id : r.ts;
      const x = Number(f.value);
      return f.operator === 'EQ' ? v === x : f.operator === 'GT' ? v > x : f.operator === 'GTE' ? v >= x : f.operator === 'LTE' ? v <= x : f.operator === 'LT' ? v < x : false;
    }),
  );
  const byId = request.sorts[0]?.propertyName === 'hs_object_id';
  // Ties of the range sort come back in a scrambled (but stable per query) order.
  const scramble = (id: number) => (id * 2654435761 + shuffleSeed) % 4294967296;
  hits.sort((a, b) => (byId ? a.id - b.id : a.ts - b.ts || scramble(a.id) - scramble(b.id)));
  return hits.slice(0, request.limit).map((r) => obj(r.id, r.ts));
}

function walk(records: { id: number; ts: number }[], start: SearchPosition, upper: number, pageSize: number, seed: number): { seen: Set<number>; queries: number } {
  let position = start;
  const seen = new Set<number>();
  for (let queries = 1; queries < 10_000; queries++) {
    const query = planQuery('contacts', position, upper, ['email'], pageSize);
    const results = search(records, query.request, seed);
    for (const r of results) seen.add(Number(r.id));
    const step = advance('contacts', position, query, results);
    expect(comparePositions(step.position, position)).toBeGreaterThanOrEqual(0);
    if (step.done) return { seen, queries };
    // Progress: the position moves, or (a range page entering a tie walk) the mode does.
    expect(comparePositions(step.position, position) > 0 || step.position.id !== null).toBe(true);
    position = step.position;
  }
  throw new Error('the walk did not end');
}

describe('search cursor planning', () => {
  it('reads every record up to the bound, whatever the ties and page size, and ends', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ts: fc.integer({ min: 1, max: 30 }) }), { minLength: 0, maxLength: 400 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 1000 }),
        (raw, pageSize, seed) => {
          const records = raw.map((r, i) => ({ id: i + 1, ts: r.ts }));
          const { seen } = walk(records, { ts: 0, id: null, complete: false }, 25, pageSize, seed);
          expect([...seen].sort((a, b) => a - b)).toEqual(records.filter((r) => r.ts <= 25).map((r) => r.id));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('walks 25,000 records sharing one timestamp by id, re-reading only one page', () => {
    const records = Array.from({ length: 25_000 }, (_, i) => ({ id: i + 1, ts: 1000 }));
    const { seen, queries } = walk(records, { ts: 0, id: null, complete: false }, 2000, 200, 7);
    expect(seen.size).toBe(25_000);
    // One range page, 125 tie pages, an empty tie page and the closing range query.
    expect(queries).toBeLessThanOrEqual(25_000 / 200 + 4);
  });

  it('never pages by offset, so the 10,000-result cap cannot be reached', () => {
    const q = planQuery('companies', { ts: 5, id: null, complete: false }, 10, undefined, 200);
    expect(q.request.after).toBeUndefined();
    expect(q.request.filterGroups[0]?.filters.map((f) => [f.propertyName, f.operator, f.value])).toEqual([
      ['hs_lastmodifieddate', 'GTE', '5'],
      ['hs_lastmodifieddate', 'LTE', '10'],
    ]);
    expect(q.request.sorts).toEqual([{ propertyName: 'hs_lastmodifieddate', direction: 'ASCENDING' }]);
    const tie = planQuery('contacts', { ts: 5, id: '42', complete: false }, 10, ['email'], 200);
    expect(tie.mode).toBe('tie');
    expect(tie.request.filterGroups[0]?.filters.map((f) => [f.propertyName, f.operator, f.value])).toEqual([
      ['lastmodifieddate', 'EQ', '5'],
      ['hs_object_id', 'GT', '42'],
    ]);
    expect(tie.request.properties).toEqual(['email', 'lastmodifieddate', 'hs_object_id']);
    const after = planQuery('contacts', { ts: 5, id: null, complete: true }, 10, undefined, 200);
    expect(after.request.filterGroups[0]?.filters[0]?.operator).toBe('GT');
  });

  it('starts from the look-back anchor only when it lies before the stored position', () => {
    const stored = { ts: 100, id: '7', complete: false };
    expect(startPosition(stored, 50)).toEqual({ ts: 50, id: null, complete: false });
    expect(startPosition(stored, 200)).toEqual(stored);
    expect(startPosition(stored, null)).toEqual(stored);
    expect(startPosition(undefined, null)).toEqual({ ts: 0, id: null, complete: false });
  });

  it('orders positions by timestamp, then none < ids < complete', () => {
    const a = { ts: 1, id: null, complete: false };
    const b = { ts: 1, id: '5', complete: false };
    const c = { ts: 1, id: '40', complete: false };
    const d = { ts: 1, id: null, complete: true };
    const e = { ts: 2, id: null, complete: false };
    const sorted = [e, c, a, d, b].sort(comparePositions);
    expect(sorted).toEqual([a, b, c, d, e]);
  });
});
