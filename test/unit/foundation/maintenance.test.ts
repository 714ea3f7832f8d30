import { describe, expect, it } from 'vitest';
import { maintenancePlan } from '../../../src/db/maintenance.ts';

describe('table maintenance plan', () => {
  it("follows autovacuum's default thresholds: 50 rows plus 10% (analyze) or 20% (vacuum) of the table", () => {
    const plan = maintenancePlan([
      { table: 'fresh', reltuples: -1, modifiedSinceAnalyze: 51, deadRows: 0 },
      { table: 'quiet', reltuples: 10_000, modifiedSinceAnalyze: 1_050, deadRows: 2_050 },
      { table: 'busy', reltuples: 10_000, modifiedSinceAnalyze: 1_051, deadRows: 2_051 },
    ]);
    expect(plan).toEqual({ analyze: ['fresh', 'busy'], vacuum: ['busy'] });
  });
});
