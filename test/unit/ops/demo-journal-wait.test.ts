import { describe, expect, it } from 'vitest';
import { journalCaughtUp } from '../../../src/cli/demo.ts';

function consumer(outcome: () => { kind: string; more?: boolean } | undefined, stepAt: () => number) {
  let checks = 0;
  return {
    service: {
      name: 'journal-consumer:global',
      lastOutcome: () => {
        checks++;
        return outcome();
      },
      lastStepAt: stepAt,
    },
    checks: () => checks,
  };
}

describe("the demo's wait for the journal", () => {
  it('resolves once every consumer caught up in a step begun after the stream stopped', async () => {
    const c = consumer(() => ({ kind: 'caught-up' }), () => 200);
    await journalCaughtUp({ services: [c.service] }, 100, 60_000);
    expect(c.checks()).toBe(1);
  });

  it('gives up at its deadline and stops checking, so nothing is left running', async () => {
    const c = consumer(() => ({ kind: 'read', more: true }), () => 200);
    await journalCaughtUp({ services: [c.service] }, 100, 50);
    const checks = c.checks();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(c.checks()).toBe(checks);
  });
});
