import { describe, expect, it } from 'vitest';
import { readAssociations, type AssociationPage, type AssociationPageInput } from '../../../src/hubspot/associations.ts';

const edge = (objectId: string) => ({ objectId, types: [{ category: 'HUBSPOT_DEFINED', typeId: 1, label: null }] });

describe('association reads', () => {
  it('reads every page of each object, keeps objects with none as empty sets, and dates the read by its first page', async () => {
    const asked: AssociationPageInput[][] = [];
    const pages: AssociationPage[] = [
      { startedAt: 1000, results: [{ fromId: 'a', to: [edge('1'), edge('2')], after: 'a-2' }, { fromId: 'b', to: [edge('3')] }], none: ['c'], failed: [] },
      { startedAt: 2000, results: [{ fromId: 'a', to: [edge('4')], after: 'a-3' }], none: [], failed: [] },
      { startedAt: 3000, results: [{ fromId: 'a', to: [edge('5')] }], none: [], failed: [{ id: 'd', message: 'nope' }] },
    ];
    const account = {
      async associationPage(_from: string, _to: string, inputs: readonly AssociationPageInput[]) {
        asked.push([...inputs]);
        return { ok: true as const, value: pages[asked.length - 1]! };
      },
    };
    const read = await readAssociations(account, 'contacts', 'companies', ['a', 'b', 'c'], 'incremental');
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(asked).toEqual([[{ id: 'a' }, { id: 'b' }, { id: 'c' }], [{ id: 'a', after: 'a-2' }], [{ id: 'a', after: 'a-3' }]]);
    expect(read.value.readAt).toBe(1000);
    expect(Object.fromEntries([...read.value.sets].map(([id, to]) => [id, to.map((t) => t.objectId)]))).toEqual({ a: ['1', '2', '4', '5'], b: ['3'], c: [] });
    expect(read.value.failed).toEqual([{ id: 'd', message: 'nope' }]);
  });
});
