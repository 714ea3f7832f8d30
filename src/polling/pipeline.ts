/**
 * Fetch ahead while applying: the next page's request depends only on the previous response, not on
 * the database write, so reading page n+1 overlaps writing page n. Pages are applied in order; when
 * writing falls behind, the pages that piled up (at most `depth`) are applied together in one call,
 * so a slow database costs fewer, larger transactions instead of a stalled fetcher.
 */
export interface Step<P> {
  page: P;
  /** No page follows this one. */
  last: boolean;
}

export async function pipelined<P>(fetchNext: () => Promise<Step<P>>, apply: (pages: P[]) => Promise<void>, depth = 4): Promise<void> {
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
      const steps = ready.splice(0, ready.length);
      if (steps.length === 0) {
        if (fetchError) throw fetchError.error;
        return;
      }
      nudge('fetcher');
      await apply(steps.map((s) => s.page));
      if (steps.some((s) => s.last)) return;
    }
  } finally {
    stopFetching = true;
    nudge('fetcher');
    await fetcher;
  }
}
