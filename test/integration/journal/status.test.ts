import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../../src/config/load.ts';
import { journalCollector, journalReport, journalStatus } from '../../../src/journal/status.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

describe(`the journal in status on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('counts every gap of the last 24 h, however many, and lists the newest five', async () => {
    const now = new Date('2026-12-06T12:00:00Z');
    const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
    // 60 portals' local journals expired in one outage (a minute apart), and two gaps from days before.
    const gaps = [
      ...Array.from({ length: 60 }, (_, i) => ({ journal: `portal:${1000 + i}`, detected_at: new Date(hoursAgo(2).getTime() + i * 60_000) })),
      { journal: 'portal:1000', detected_at: hoursAgo(30) },
      { journal: 'portal:1001', detected_at: hoursAgo(50) },
    ];
    await testDb.db
      .insertInto('journal_gaps')
      .values(gaps.map((g, i) => ({ ...g, lost_offset: `offset-${i}`, since: hoursAgo(80), until: g.detected_at, rescan_jobs: [] })))
      .execute();

    const status = await journalStatus(testDb.db, now);
    expect(status.gapsLast24h).toBe(60);
    expect(status.gaps.map((g) => g.journal)).toEqual(['portal:1059', 'portal:1058', 'portal:1057', 'portal:1056', 'portal:1055']);

    const metrics = new Metrics();
    await journalCollector(testDb.db)(metrics, now);
    expect(metrics.snapshot().gauges['journal.gaps_24h']).toBe(60);
  });

  it("gives up on a token endpoint that never answers after status's own 5 s, not the journal's request timeout", async () => {
    // Accepts the connection, never answers.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const config = parseConfigObject({
        hubspot: {
          baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
          accounts: [{ portalId: 62515, accessToken: 'pat-test' }],
          journal: { clientId: 'journal-client', clientSecret: 'journal-secret', requestTimeoutMs: 600_000 },
        },
        jobs: [{ name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'], schedule: '0 0 1 1 *' }],
      });
      const report = await journalReport(testDb.db, config, pino({ level: 'silent' }));
      expect(report?.subscriptions).toEqual({ error: expect.stringMatching(/^token request failed: .*(timeout|aborted)/i) });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  }, 30_000);
});
