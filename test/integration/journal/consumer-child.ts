/**
 * A journal consumer in its own process, for the crash test: reads the journal from the config in
 * JOURNAL_CHILD until caught up, prints `downloaded <n>` each time an entry batch's files are
 * downloaded (before their commit) and, at the `hangAt`-th batch, prints `hanging` and stops there
 * for ever (the test kills it), or prints `done` at the end.
 */
import pino from 'pino';
import { configSchema } from '../../../src/config/schema.ts';
import { openDatabase } from '../../../src/db/index.ts';
import { migrateToLatest } from '../../../src/db/migrate.ts';
import { consumeStep } from '../../../src/journal/consumer.ts';
import { journalApi, journalTargets, journalTokens } from '../../../src/journal/service.ts';

const input = JSON.parse(process.env.JOURNAL_CHILD ?? '{}') as { config: unknown; hangAt?: number };
let batches = 0;
const config = configSchema.parse(input.config);
const journal = config.hubspot.journal!;
const log = pino({ level: 'silent' });
const handle = await openDatabase(config.database, log);
await migrateToLatest(handle.db);
const target = journalTargets(config, journal)[0]!;
const deps = {
  db: handle.db,
  log,
  config: journal,
  target,
  api: journalApi(config, journal, journalTokens(config, journal), target),
  jobs: config.jobs,
  worker: `child-${process.pid}`,
  onDownloaded: async (entries: number) => {
    process.stdout.write(`downloaded ${entries}\n`);
    if (++batches === input.hangAt) {
      process.stdout.write('hanging\n');
      await new Promise(() => undefined);
    }
  },
};
for (let step = await consumeStep(deps); step.kind !== 'caught-up'; step = await consumeStep(deps)) {
  if (step.kind === 'failed') throw new Error(step.message);
}
await handle.close();
process.stdout.write('done\n');
