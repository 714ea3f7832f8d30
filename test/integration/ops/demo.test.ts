import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.ts';

describe('hubsync demo', () => {
  it('shows both directions: the mirror converges, and the sample app’s contacts reach the Paragon stand-in as App Events', async () => {
    const result = await runCli(['demo', '--duration', '3']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('convergence check PASSED');
    const events = /App Events: (\d+) enqueued from (\d+) writes to the sample app table \w+, (\d+) delivered to the Paragon stand-in/.exec(result.stdout);
    expect(events).not.toBeNull();
    expect(Number(events![1])).toBeGreaterThan(0);
    expect(events![3]).toBe(events![1]);
  }, 300_000);
});
