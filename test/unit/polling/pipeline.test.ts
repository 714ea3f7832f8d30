import { describe, expect, it } from 'vitest';
import { pipelined } from '../../../src/polling/pipeline.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('fetch-ahead pipeline', () => {
  it('applies every page once, in order, batching the pages that piled up while a write was slow', async () => {
    let n = 0;
    const gate = deferred();
    const batches: number[][] = [];
    const fetched: number[] = [];
    const done = pipelined(
      async () => {
        const page = ++n;
        fetched.push(page);
        return { page, last: page === 6 };
      },
      async (pages) => {
        batches.push(pages);
        if (batches.length === 1) await gate.promise;
      },
      3,
    );
    // While the first write is blocked the fetcher runs ahead, but only `depth` pages.
    await expect.poll(() => fetched.length).toBe(4);
    gate.resolve();
    await done;
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(batches[0]).toEqual([1]);
    expect(batches[1]).toEqual([2, 3, 4]);
  });

  it('writes the pages fetched before a fetch failure, then throws it', async () => {
    let n = 0;
    const applied: number[] = [];
    await expect(
      pipelined(
        async () => {
          if (++n === 3) throw new Error('search failed');
          return { page: n, last: false };
        },
        async (pages) => {
          applied.push(...pages);
        },
      ),
    ).rejects.toThrow('search failed');
    expect(applied).toEqual([1, 2]);
  });

  it('stops fetching when a write fails', async () => {
    let n = 0;
    await expect(pipelined(async () => ({ page: ++n, last: false }), async () => Promise.reject(new Error('db down')), 2)).rejects.toThrow('db down');
    expect(n).toBeLessThanOrEqual(3);
  });
});

describe('statistics refresh schedule', () => {
  it('analyzes at 2k records written, then at every doubling', async () => {
    const { analyzeLevel } = await import('../../../src/polling/passes.ts');
    expect([0, 1999, 2000, 3999, 4000, 8000, 16_000, 31_999].map(analyzeLevel)).toEqual([-1, -1, 0, 0, 1, 2, 3, 3]);
  });
});
