import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeProblem, SUPPORTED } from '../../../bin/node-version.js';

describe('the Node version gate', () => {
  it('allows what package.json engines allows', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(SUPPORTED);
  });

  it('lets 22.18+ and 24+ through and stops older ones with one line saying how to get Node 24', () => {
    for (const ok of ['22.18.0', '22.20.1', '24.0.0', '24.22.3', '26.1.0']) expect(nodeProblem(ok)).toBeUndefined();
    for (const old of ['v20.20.2', '22.0.0', '22.17.1', '23.11.0', '18.20.4']) {
      const problem = nodeProblem(old);
      expect(problem).toMatch(/cannot run hubsync: it needs Node 24 .*nvm install 24/);
      expect(problem).not.toContain('\n');
    }
  });
});
