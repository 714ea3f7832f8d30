/**
 * A worker process for the crash test: runs the outbox delivery loop until SIGTERM (graceful)
 * or SIGKILL (not). Settings arrive as JSON in OUTBOX_CHILD.
 */
import { pino } from 'pino';
import { configSchema } from '../../../src/config/schema.ts';
import { openDatabase } from '../../../src/db/index.ts';
import { createOutboxDelivery } from '../../../src/outbox/delivery.ts';

const settings = JSON.parse(process.env.OUTBOX_CHILD ?? '{}') as { config: unknown };
const config = configSchema.parse(settings.config);
const handle = await openDatabase(config.database);
const delivery = createOutboxDelivery({ db: handle.db, paragon: config.paragon!, outbox: config.outbox, log: pino({ level: 'silent' }) });
await delivery.start();
process.stdout.write('started\n');
process.on('SIGTERM', () => {
  void delivery.stop().then(async () => {
    await handle.close();
    process.exit(0);
  });
});
