/**
 * A polling worker in its own process, for the crash test: opens the database from the config in
 * POLL_CHILD, runs the polling service's job until it is not skipped (a dead worker's lease expires
 * first), prints `done <status>` and exits. Page commits are logged (debug) on stdout.
 */
import pino from 'pino';
import { configSchema } from '../../../src/config/schema.ts';
import { openDatabase } from '../../../src/db/index.ts';
import { migrateToLatest } from '../../../src/db/migrate.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { createPollingService } from '../../../src/polling/scheduler.ts';

const input = JSON.parse(process.env.POLL_CHILD ?? '{}') as { config: unknown; timeScale: number; job: string };
const config = configSchema.parse(input.config);
const log = pino({ level: 'debug' });
const handle = await openDatabase(config.database, log);
await migrateToLatest(handle.db);
const accounts = createHubSpotAccounts(config.hubspot, { log, timeScale: input.timeScale });
const service = createPollingService({ db: handle.db, accounts, log, jobs: config.jobs, runAtStart: false });
await service.start();
process.stdout.write('started\n');
let outcome = await service.trigger(input.job);
while (outcome?.status === 'skipped') {
  await new Promise((r) => setTimeout(r, 200));
  outcome = await service.trigger(input.job);
}
await service.stop();
accounts.close();
await handle.close();
process.stdout.write(`done ${outcome?.status ?? 'none'}\n`);
