/**
 * Fetch ahead while applying: the next page's request depends only on the previous response, not on
 * the database write, so reading page n+1 overlaps writing page n. Pages are applied in order, one
 * at a time; at most `depth` fetched pages wait.
 */
export interface Step<P> {
  page: P;
  /** No page follows this one. */
  last: boolean;
}

export async function pipelined<P>(fetchNext: () => Promise<Step<P>>, apply: (page: P) => Promise<void>, depth = 2): Promise<void> {
  const ready: Step<P>[] = [];
  let fetchError: { error: unknown } | undefined;
  let fetching = true;
  let stopFetching = false;
  let wakeApplier: (() => void) | undefined;
  let wakeFetcher: (() => void) | undefined;
  const nudge = (which: 'applier' | 'fetcher') => {
    const w = which === 'applier' ? wakeApplier : wakeFetcher;
    if (which === 'applier') wakeApplier = undefined;
    else wakeFetcher = undefined;
    w?.();
  };

  const fetcher = (async () => {
    try {
      for (;;) {
        while (ready.length >= depth && !stopFetching) await new Promise<void>((r) => (wakeFetcher = r));
        if (stopFetching) return;
        const step = await fetchNext();
        ready.push(step);
        nudge('applier');
        if (step.last) return;
      }
    } catch (error) {
      fetchError = { error };
    } finally {
      fetching = false;
      nudge('applier');
    }
  })();

  try {
    for (;;) {
      while (ready.length === 0 && fetching) await new Promise<void>((r) => (wakeApplier = r));
      const step = ready.shift();
      if (!step) {
        if (fetchError) throw fetchError.error;
        return;
      }
      nudge('fetcher');
      await apply(step.page);
      if (step.last) return;
    }
  } finally {
    stopFetching = true;
    nudge('fetcher');
    await fetcher;
  }
}
