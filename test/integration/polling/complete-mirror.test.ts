import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConvergence } from '../../../src/cli/convergence.ts';
import type { PollingService } from '../../../src/polling/scheduler.ts';
import { SANDBOX_APP_ID, SANDBOX_CLIENT_SECRET } from '../../../src/sandbox/cli.ts';
import { defaultSubscriptions } from '../../../src/sandbox/hubspot/defaults.ts';
import { startScratchSandboxDaemon, type SandboxDaemon } from '../../helpers/daemon.ts';
import { serverUrl } from '../../helpers/db.ts';
import { waitFor } from '../webhooks/helpers.ts';

const PORTAL = 62515;
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

/** The whole daemon on the stand-in, with polls and sweeps only when the test runs them. */
async function start(): Promise<SandboxDaemon> {
  const never = '0 0 1 1 *';
  const running = await startScratchSandboxDaemon({
    sandboxOptions: { seed: 14, timeScale: 0.01, streamIntervalMs: 0, initialChanges: 0 },
    http: { port: 0, host: '127.0.0.1' },
    webhooks: { processIntervalMs: 50 },
    jobs: [
      { name: 'contacts', objectType: 'contacts', properties: ['email', 'firstname', 'lastname', 'lifecyclestage'] },
      { name: 'companies', objectType: 'companies', properties: ['name', 'domain'], associations: ['contacts', 'p_projects'] },
      { name: 'projects', objectType: 'p_projects', properties: ['name', 'status'], associations: ['companies'] },
    ].map((job) => ({ ...job, portalId: PORTAL, schedule: never, archivedSweep: never, associationSweep: 'off', lookbackSeconds: 0 })),
  }, log);
  cleanups.push(() => running.close());
  return running;
}

/**
 * A day of history the mirror first learns by backfill, then a stream of changes (creations,
 * updates, deletions, restores, merges of records with associations, privacy deletions, edges
 * added and removed) that reaches it only through what webhooks `subscribe` lets through and
 * through polls and sweeps; then every job polls, sweeps archived records and sweeps associations,
 * and the mirror must equal the stand-in's truth.
 */
async function converge(running: SandboxDaemon, subscribe: ((type: string) => boolean) | undefined) {
  const { sandbox, daemon, handle } = running;
  const hs = sandbox.sandbox.hubspot;
  const polling = daemon.services.find((s) => s.name === 'polling') as PollingService;
  const dayAgo = Date.now() - 86_400_000;
  const contacts = hs.seed({ portalId: PORTAL, objectType: 'contacts', count: 40, at: dayAgo });
  const companies = hs.seed({ portalId: PORTAL, objectType: 'companies', count: 10, at: dayAgo });
  const projects = hs.seed({ portalId: PORTAL, objectType: 'p_projects', count: 5, at: dayAgo });
  contacts.forEach((id, i) => hs.associate('contacts', id, 'companies', companies[i % companies.length]!, { portalId: PORTAL, at: dayAgo, silent: true }));
  projects.forEach((id, i) => hs.associate('p_projects', id, 'companies', companies[i]!, { portalId: PORTAL, at: dayAgo, silent: true }));
  if (subscribe) {
    hs.webhooks.addApp({
      appId: SANDBOX_APP_ID, clientSecret: SANDBOX_CLIENT_SECRET, targetUrl: `${daemon.receiverUrl()!}/webhooks/hubspot`,
      subscriptions: defaultSubscriptions().filter((s) => subscribe(s.subscriptionType)),
    });
  }
  for (const job of daemon.jobs) expect((await polling.runNow(job.name))?.status).toBe('ok');

  const ops = hs.runStream({ seed: 1414, count: 200, portalId: PORTAL, startAt: Date.now() - 200, stepMs: 1 });
  for (const kind of ['create', 'update', 'delete', 'restore', 'merge', 'privacyDelete', 'associate', 'dissociate']) expect(ops.some((op) => op.kind === kind)).toBe(true);
  await hs.idle();
  await waitFor(async () => (await handle.db.selectFrom('webhook_events').select('id').where('processed_at', 'is', null).execute()).length === 0, 30_000);
  for (const job of daemon.jobs) {
    for (const kind of ['poll', 'sweep', 'associations'] as const) expect((await polling.runNow(job.name, kind))?.status, `${job.name} ${kind}`).toBe('ok');
  }
  return { report: await checkConvergence(handle.db, hs.truth(PORTAL), daemon.jobs), ops, hs };
}

describe(`the complete mirror on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('with every association and privacy-deletion webhook lost, polling and sweeps leave the mirror equal to HubSpot', async () => {
    const running = await start();
    const { report, hs } = await converge(running, (type) => !type.endsWith('.associationChange') && !type.endsWith('.privacyDeletion'));
    expect(report.mismatches).toEqual([]);
    expect(hs.deliveries().length).toBeGreaterThan(100);
    expect(report.erased).toBeGreaterThan(0);
    expect(report.merged).toBeGreaterThan(0);
    expect(report.associations.map((a) => a.pair)).toEqual(['contacts → companies', 'companies → contacts', 'companies → 2-3465', '2-3465 → companies']);
    expect(report.associations.every((a) => a.edges > 0)).toBe(true);
    // Privacy deletions that reached no webhook: erased as gone, their values nowhere in the mirror.
    const gone = await running.handle.db.selectFrom('hubspot_objects').select(['properties', 'gone_at', 'archived']).where('gone_at', 'is not', null).execute();
    expect(gone.length).toBe(report.erased);
    for (const row of gone) expect(row).toMatchObject({ properties: {}, archived: true });
  });

  it('with every webhook lost, the same', async () => {
    const running = await start();
    const { report, hs } = await converge(running, undefined);
    expect(hs.deliveries()).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(report.merged).toBeGreaterThan(0);
    expect(report.associations.every((a) => a.edges > 0)).toBe(true);
  });
});
