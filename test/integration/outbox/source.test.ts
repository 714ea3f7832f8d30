import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { createOutboxSource, scanOnce } from '../../../src/outbox/source.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import { quietLog, waitFor } from './harness.ts';

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
  await sql`create table app_contacts (
    id integer primary key, owner_id text, email text, first_name text,
    updated_at timestamptz not null default now())`.execute(t.db);
});
afterAll(async () => t?.close());
beforeEach(async () => {
  await sql`truncate app_contacts, app_event_outbox, outbox_cursors, outbox_source_rows`.execute(t.db);
});

function deps(source: Record<string, unknown> = {}) {
  const config = configSchema.parse({
    outbox: {
      source: { table: 'app_contacts', user: 'owner_id', fields: { email: 'email', firstName: 'first_name', id: 'id' }, batchSize: 100, lookbackMs: 0, pollIntervalMs: 20, ...source },
    },
  });
  return { db: t.db, outbox: { ...config.outbox, source: config.outbox.source! }, log: quietLog };
}

async function events() {
  return t.db.selectFrom('app_event_outbox').selectAll().orderBy('id').execute();
}

describe('outbox table watcher', () => {
  it('enqueues every row once even when 250 rows share one updated_at across page boundaries', async () => {
    await sql`insert into app_contacts (id, owner_id, email, first_name, updated_at)
      select g, 'user-' || (g % 4), 'c' || g || '@example.com', 'C' || g, '2026-11-22 10:00:00.123456+00'
      from generate_series(1, 250) g`.execute(t.db);
    const source = createOutboxSource(deps());
    const first = await source.drain();
    expect(first).toMatchObject({ read: 250, enqueued: 250, skipped: 0 });
    const rows = await events();
    expect(rows.map((r) => r.payload['id'])).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(rows.every((r) => r.name === 'Contact Created')).toBe(true);
    expect(rows[0]).toMatchObject({ user_id: 'user-1', ordering_key: 'app_contacts:1', payload: { email: 'c1@example.com', firstName: 'C1', id: 1 } });
    // Nothing new: nothing read, nothing enqueued.
    expect(await source.drain()).toMatchObject({ read: 0, enqueued: 0 });
  });

  it('turns later versions into "updated" events, once per version, in order', async () => {
    await sql`insert into app_contacts (id, owner_id, email, updated_at) values (1, 'u', 'a@example.com', '2026-11-22 10:00:00+00'), (2, 'u', 'b@example.com', '2026-11-22 10:00:00+00')`.execute(t.db);
    const source = createOutboxSource(deps());
    await source.drain();
    await sql`update app_contacts set email = 'a2@example.com', updated_at = '2026-11-22 10:00:01+00' where id = 1`.execute(t.db);
    await source.drain();
    await sql`update app_contacts set email = 'a3@example.com', updated_at = '2026-11-22 10:00:02+00' where id = 1`.execute(t.db);
    await sql`insert into app_contacts (id, owner_id, email, updated_at) values (3, 'u', 'c@example.com', '2026-11-22 10:00:02+00')`.execute(t.db);
    await source.drain();
    const rows = await events();
    expect(rows.map((r) => [r.name, r.payload['email']])).toEqual([
      ['Contact Created', 'a@example.com'],
      ['Contact Created', 'b@example.com'],
      ['Contact Updated', 'a2@example.com'],
      ['Contact Updated', 'a3@example.com'],
      ['Contact Created', 'c@example.com'],
    ]);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(5);
  });

  it('catches a row that committed late behind the cursor with the look-back sweep, without repeating others', async () => {
    await sql`insert into app_contacts (id, owner_id, email, updated_at) values
      (1, 'u', 'old@example.com', now() - interval '1 hour'), (3, 'u', 'new@example.com', now())`.execute(t.db);
    const d = deps({ lookbackMs: 600_000 });
    // The head reads both; the trail only the one older than the look-back.
    expect(await createOutboxSource(d).drain()).toMatchObject({ read: 3, enqueued: 2 });
    // A transaction that stamped updated_at half an hour ago but commits only now: behind the head.
    await sql`insert into app_contacts (id, owner_id, email, updated_at) values (2, 'u', 'late@example.com', now() - interval '30 minutes')`.execute(t.db);
    expect(await scanOnce(d, 'head')).toMatchObject({ read: 0 });
    expect(await scanOnce(d, 'trail')).toMatchObject({ read: 1, enqueued: 1 });
    expect(await scanOnce(d, 'trail')).toMatchObject({ read: 0 });
    const rows = await events();
    expect(rows.map((r) => [r.name, r.payload['email']])).toEqual([
      ['Contact Created', 'old@example.com'],
      ['Contact Created', 'new@example.com'],
      ['Contact Created', 'late@example.com'],
    ]);
  });

  it('skips rows without a user until they get one (then "created")', async () => {
    await sql`insert into app_contacts (id, owner_id, email, updated_at) values (1, null, 'a@example.com', '2026-11-22 10:00:00+00')`.execute(t.db);
    const source = createOutboxSource(deps());
    expect(await source.drain()).toMatchObject({ read: 1, enqueued: 0, skipped: 1 });
    await sql`update app_contacts set owner_id = 'u', updated_at = '2026-11-22 10:00:05+00' where id = 1`.execute(t.db);
    await source.drain();
    expect((await events()).map((r) => r.name)).toEqual(['Contact Created']);
  });

  it('runs as a service: inserts and updates show up while it polls', async () => {
    const source = createOutboxSource(deps());
    await source.start();
    try {
      await sql`insert into app_contacts (id, owner_id, email) values (1, 'u', 'a@example.com')`.execute(t.db);
      await waitFor(async () => (await events()).length === 1, 'the insert enqueued');
      await sql`update app_contacts set email = 'b@example.com', updated_at = clock_timestamp() where id = 1`.execute(t.db);
      await waitFor(async () => (await events()).length === 2, 'the update enqueued');
    } finally {
      await source.stop();
    }
    expect((await events()).map((r) => r.name)).toEqual(['Contact Created', 'Contact Updated']);
  });
});
