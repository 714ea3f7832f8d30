import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.ts';

describe('hubsync demo', () => {
  it('shows both directions: the mirror converges, and the sample app’s contacts reach the Paragon stand-in as App Events', async () => {
    const result = await runCli(['demo', '--duration', '3']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('convergence check PASSED');
    // It names what it compared: final survivors, erased values and each job's associations.
    expect(result.stdout).toMatch(/\d+ objects \(values, deletions, \d+ ids merged away: their final survivor, \d+ privacy-deleted: values erased\)/);
    for (const pair of ['contacts → companies', 'companies → contacts', 'companies → 2-3465', '2-3465 → companies']) expect(result.stdout).toMatch(new RegExp(`associations ${pair} \\(\\d+ edges\\)`));
    // All three paths ran: the closing report shows what the journal read, and compares the three.
    const journal = /global\s+offset \S+; (\d+) entries, (\d+) events read/.exec(result.stdout);
    expect(Number(journal?.[2])).toBeGreaterThan(0);
    expect(result.stdout).toContain('Webhooks vs journal vs polling');
    expect(result.stdout).toMatch(/^ {2}all\s+\d+\s+webhook .*\n\s+journal\s+\d+\.\d%.*\n\s+poll\s+\d+\.\d%/m);
    const events = /App Events: (\d+) enqueued from (\d+) writes to the sample app table \w+, (\d+) delivered to the Paragon stand-in/.exec(result.stdout);
    expect(events).not.toBeNull();
    expect(Number(events![1])).toBeGreaterThan(0);
    expect(events![3]).toBe(events![1]);
  }, 300_000);
});
