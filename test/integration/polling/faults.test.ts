import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activePauses, savePause } from '../../../src/hubspot/pause-store.ts';
import { openHubSpotAccounts } from '../../../src/hubspot/accounts.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, liveTruth, missingOrStale, PORTAL, poller, pollingConfig, TOKEN } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.01,
    hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'professional', retryAfter: true }] },
  });
  sandbox.hubspot.seed({ objectType: 'contacts', count: 1500, at: Date.now() - 60_000 });
});

afterAll(async () => {
  await sandbox?.close();
});

const tick = async () => {
  const at = Date.now() + 2;
  while (Date.now() <= at) await new Promise((r) => setTimeout(r, 1));
};

describe('polling under failures', () => {
  it('429 and 5xx bursts slow the sync but lose nothing', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'storm', properties: ['email'] }]));
    // Fewer in a row than a call's cap of consecutive 429s (6): the calls wait them out.
    sandbox.hubspot.failNext({ status: 429, count: 5, policy: 'TEN_SECONDLY_ROLLING' });
    const backfill = await runJob(p.deps, p.job('storm'), 'poll');
    expect(backfill.status).toBe('ok');
    await tick();
    const ids = liveTruth(sandbox).map((o) => o.id);
    ids.slice(0, 900).forEach((id, i) => sandbox.hubspot.update('contacts', id, { email: `storm-${i}@example.com` }, { silent: true }));
    // Alternating bursts: three 502s, a secondly 429 run, three 503s.
    sandbox.hubspot.failNext({ status: 502, count: 3 });
    sandbox.hubspot.failNext({ status: 429, count: 5, policy: 'SECONDLY' });
    sandbox.hubspot.failNext({ status: 503, count: 3 });
    const outcome = await runJob(p.deps, p.job('storm'), 'poll');
    expect(outcome.status).toBe('ok');
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
    const runs = await testDb.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'storm').orderBy('id').execute();
    expect(runs.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(runs.reduce((n, r) => n + r.rate_limited, 0)).toBe(10);
    const counters = Object.entries(p.metrics.snapshot().counters);
    expect(counters.filter(([k]) => k.split('{')[0] === 'hubspot.api.429s').reduce((n, [, v]) => n + v, 0)).toBe(10);
  }, 120_000);

  it('a 429 storm longer than the cap of consecutive 429s fails the run as rate limited; the next run loses nothing', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'long-storm', properties: ['email'] }]));
    expect((await runJob(p.deps, p.job('long-storm'), 'poll')).status).toBe('ok');
    await tick();
    liveTruth(sandbox).slice(0, 300).forEach((o, i) => sandbox.hubspot.update('contacts', o.id, { email: `long-storm-${i}@example.com` }, { silent: true }));
    sandbox.hubspot.failNext({ status: 429, count: 8, policy: 'SECONDLY' });
    const failed = await runJob(p.deps, p.job('long-storm'), 'poll');
    expect(failed.status).toBe('failed');
    const run = await testDb.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'long-storm').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(run.error).toMatch(/rate_limited 429: 6 consecutive 429s/);
    expect(run.rate_limited).toBe(6);
    sandbox.hubspot.accounts.clearFaults();
    expect((await runJob(p.deps, p.job('long-storm'), 'poll')).status).toBe('ok');
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
  }, 120_000);

  it('a 5xx outage longer than the retries fails the run; the next run resumes from the committed cursor', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'outage', properties: ['email'] }]));
    expect((await runJob(p.deps, p.job('outage'), 'poll')).status).toBe('ok');
    await tick();
    const ids = liveTruth(sandbox).map((o) => o.id);
    ids.slice(0, 600).forEach((id, i) => sandbox.hubspot.update('contacts', id, { email: `outage-${i}@example.com` }, { silent: true, at: Date.now() + i }));
    await new Promise((r) => setTimeout(r, 700));
    sandbox.hubspot.failNext({ status: 500, count: 50 });
    const failed = await runJob(p.deps, p.job('outage'), 'poll');
    expect(failed.status).toBe('failed');
    const run = await testDb.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'outage').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/server 500/);
    sandbox.hubspot.accounts.clearFaults();
    expect((await runJob(p.deps, p.job('outage'), 'poll')).status).toBe('ok');
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
  }, 120_000);

  it('stops at its share of the daily limit before HubSpot has to answer 429, says so and remembers the pause', async () => {
    // A day of 60 calls, half of them hubsync's: the backfill needs 60 list pages.
    const small = await startSandbox({
      timeScale: 0.01,
      hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'professional', limits: { daily: 60 } }] },
    });
    const stop = new AbortController();
    try {
      small.hubspot.seed({ objectType: 'contacts', count: 6_000, at: Date.now() - 60_000 });
      const config = pollingConfig(small.baseUrl, [{ name: 'share', properties: ['email'] }], { budgetShare: 0.5 });
      const p = poller(testDb, small, config);
      const accounts = await openHubSpotAccounts(testDb.db, config.hubspot, { log: p.deps.log, metrics: p.metrics, timeScale: 0.01 });
      const run = runJob({ ...p.deps, accounts, signal: stop.signal }, p.job('share'), 'poll');
      await expect.poll(() => p.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('share (budgetShare 0.5) of the HubSpot daily API limit used')), { timeout: 30_000 }).toBeDefined();
      await expect.poll(async () => (await activePauses(testDb.db, new Date())).map((x) => [x.portalId, x.policy])).toEqual([[PORTAL, 'DAILY']]);
      const calls = p.metrics.total('hubspot.api.calls');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Paused: no call since, none answered 429, and the other half of the day is untouched.
      expect(p.metrics.total('hubspot.api.calls')).toBe(calls);
      expect(calls).toBeGreaterThanOrEqual(29);
      expect(calls).toBeLessThanOrEqual(31);
      expect(p.metrics.total('hubspot.api.429s')).toBe(0);
      stop.abort();
      expect((await run).status).toBe('aborted');
      accounts.close();
    } finally {
      stop.abort();
      await small.close();
      await testDb.db.deleteFrom('sync_account_pauses').execute();
    }
  }, 120_000);

  it('hitting the daily limit pauses with a clear log line until the reset, and remembers the pause', async () => {
    // Its own sandbox, whose first daily reset is a few seconds away and announced in Retry-After.
    const daily = await startSandbox({
      timeScale: 0.01,
      hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'professional', retryAfter: true, firstDailyResetAt: Date.now() + 4000 }] },
    });
    try {
      daily.hubspot.seed({ objectType: 'contacts', count: 300, at: Date.now() - 60_000 });
      const p = poller(testDb, daily, pollingConfig(daily.baseUrl, [{ name: 'daily', properties: ['email'] }]));
      expect((await runJob(p.deps, p.job('daily'), 'poll')).status).toBe('ok');
      await tick();
      liveTruth(daily).forEach((o, i) => daily.hubspot.update('contacts', o.id, { email: `daily-${i}@example.com` }, { silent: true }));
      const { log, lines } = captureLogger();
      const pauses: { until: number; policy: string }[] = [];
      const accounts = createHubSpotAccounts(p.config.hubspot, {
        log,
        timeScale: 0.01,
        onPause: (portalId, pause) => {
          pauses.push({ until: pause.untilMs, policy: pause.policy });
          if (pause.policy === 'DAILY') void savePause(testDb.db, portalId, pause.policy, new Date(pause.untilMs), new Date());
        },
      });
      daily.hubspot.exhaustLimit('DAILY');
      const outcome = await runJob({ ...p.deps, accounts, log }, p.job('daily'), 'poll');
      expect(outcome.status).toBe('ok');
      const line = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('daily API limit reached'));
      expect(line).toMatchObject({ policy: 'DAILY', portalId: PORTAL });
      const pause = pauses.find((x) => x.policy === 'DAILY');
      expect(pause).toBeDefined();
      await expect.poll(async () => (await testDb.db.selectFrom('sync_account_pauses').selectAll().execute()).length).toBe(1);
      // A process started before the reset starts paused.
      expect((await activePauses(testDb.db, new Date(pause!.until - 1))).map((x) => x.portalId)).toEqual([PORTAL]);
      const restored = createHubSpotAccounts(p.config.hubspot, { log, restoredPauses: [{ portalId: PORTAL, until: new Date(Date.now() + 60_000) }] });
      expect(restored.get(PORTAL)?.budget.pausedUntil()).toBeGreaterThan(Date.now());
      // Webhook hydration sees it too, and waits for the reset instead of using up attempts.
      expect(restored.reader.pausedUntil?.(PORTAL)).toBe(restored.get(PORTAL)?.budget.pausedUntil());
      restored.close();
      expect(await missingOrStale(testDb, daily)).toEqual([]);
    } finally {
      await daily.close();
    }
  }, 120_000);
});

