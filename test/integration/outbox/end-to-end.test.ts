import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAll } from '../../../src/cli/lifecycle.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { outboxServices } from '../../../src/outbox/services.ts';
import type { RunningParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import { PROJECT_ID, quietLog, startParagon, testKeys, waitFor } from './harness.ts';

let t: TestDb;
let sandbox: RunningParagonSandbox;

beforeAll(async () => {
  t = await createTestDb();
  sandbox = await startParagon();
  await sql`create table contacts (id bigserial primary key, owner_id text not null, email text, first_name text, updated_at timestamptz not null default clock_timestamp())`.execute(t.db);
});
afterAll(async () => {
  await sandbox?.close();
  await t?.close();
});

describe('app contacts to Paragon, end to end', () => {
  it('a contact inserted and then updated in the app arrives as "Contact Created" then "Contact Updated"', async () => {
    const config = configSchema.parse({
      paragon: { projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, baseUrl: sandbox.baseUrl },
      outbox: {
        source: { table: 'contacts', user: 'owner_id', fields: { email: 'email', firstName: 'first_name' }, pollIntervalMs: 20 },
        pollIntervalMs: 20,
      },
    });
    const services = outboxServices({ db: t.db, config, log: quietLog });
    expect(services.map((s) => s.name)).toEqual(['outbox-source', 'outbox-delivery']);
    const stop = await startAll(services, quietLog);
    try {
      await sql`insert into contacts (owner_id, email, first_name) values ('user-1', 'ada@example.com', 'Ada')`.execute(t.db);
      await waitFor(() => sandbox.paragon.appEvents.length === 1, 'the created event');
      await sql`update contacts set email = 'ada@lovelace.dev', updated_at = clock_timestamp()`.execute(t.db);
      await waitFor(() => sandbox.paragon.appEvents.length === 2, 'the updated event');
    } finally {
      await stop();
    }
    expect(sandbox.paragon.appEvents.map(({ name, userId, payload }) => ({ name, userId, payload }))).toEqual([
      { name: 'Contact Created', userId: 'user-1', payload: { email: 'ada@example.com', firstName: 'Ada' } },
      { name: 'Contact Updated', userId: 'user-1', payload: { email: 'ada@lovelace.dev', firstName: 'Ada' } },
    ]);
  });
});
