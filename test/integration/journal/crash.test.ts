import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { migrateToLatest } from '../../../src/db/migrate.ts';
import { syncSubscriptions } from '../../../src/journal/sync.ts';
import { journalApi, journalTokens } from '../../../src/journal/service.ts';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { createTestDb, seededEmbeddedDir, serverUrl, testDatabaseConfig, type TestDb } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';
import { APP, drainer, journalConfig, log, mismatches, PORTAL, startJournalSandbox, TIME_SCALE } from './harness.ts';

const CHILD = fileURLToPath(new URL('./consumer-child.ts', import.meta.url));
let sandbox: Sandbox;
let serverDb: TestDb | undefined;
/** Where the embedded database lives (PGlite runs): the workers and the test take turns opening it. */
const embeddedDir = serverUrl ? undefined : seededEmbeddedDir(tempDir('hubsync-journal-crash'));

beforeAll(async () => {
  sandbox = await startJournalSandbox({ seed: 8, journal: { maxEventsPerEntry: 10 } });
  if (serverUrl) serverDb = await createTestDb();
});

afterAll(async () => {
  await sandbox?.close();
  await serverDb?.close();
});

/** Runs the consumer child; resolves with its output lines once `until` matches one (or it exits). */
function runChild(config: unknown, hangAt: number | undefined, until: RegExp): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, [CHILD], { env: { ...process.env, JOURNAL_CHILD: JSON.stringify({ config, hangAt }) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.some((line) => until.test(line))) resolve({ child, lines });
    });
    child.once('exit', (code, signal) => (lines.some((line) => until.test(line)) ? resolve({ child, lines }) : reject(new Error(`child exited (${code ?? signal}): ${lines.join(' | ')}`))));
  });
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('a journal worker killed between downloading files and committing them', () => {
  it('loses and duplicates nothing: the next worker reads the same entries, stores each event once, and the mirror converges', async () => {
    const database = serverDb ? { url: serverDb.url, ssl: 'disable' } : { embeddedDir };
    const config = journalConfig(sandbox, { database, journal: { batchSize: 3 } });
    const handle = serverDb ?? (await openDatabase({ ...testDatabaseConfig(), embeddedDir: embeddedDir! }));
    try {
      await migrateToLatest(handle.db);
      const api = journalApi(config, config.hubspot.journal!, journalTokens(config, config.hubspot.journal!));
      expect((await syncSubscriptions({ db: handle.db, api, log, config: { jobs: config.jobs, journal: config.hubspot.journal! } })).failures).toEqual([]);
    } finally {
      if (!serverDb) await handle.close();
    }
    sandbox.hubspot.runStream({ seed: 31, count: 200, portalId: PORTAL, startAt: Date.now() - 200, stepMs: 1 });
    await sandbox.hubspot.journal.idle();
    const raw = { database, hubspot: { baseUrl: sandbox.baseUrl, accounts: config.hubspot.accounts, journal: config.hubspot.journal }, jobs: config.jobs };

    // First life: commits the first entry and a batch after it, downloads the next batch's files, and is killed before their commit.
    const first = await runChild(raw, 3, /^hanging$/);
    first.child.kill('SIGKILL');
    await exited(first.child);
    const entries = sandbox.hubspot.journal.entries(APP.appId);
    const between = serverDb ?? (await openDatabase({ ...testDatabaseConfig(), embeddedDir: embeddedDir! }));
    try {
      const position = await between.db.selectFrom('journal_offsets').selectAll().executeTakeFirstOrThrow();
      expect([position.offset, Number(position.entries)]).toEqual([entries[3]!.offset, 4]);
      const stored = await between.db.selectFrom('webhook_events').select('id').where('source', '=', 'journal').execute();
      expect(stored).toHaveLength(entries.slice(0, 4).reduce((n, entry) => n + entry.events.length, 0));
    } finally {
      if (!serverDb) await between.close();
    }
    // Second life: from the last committed offset to the end.
    const second = await runChild(raw, undefined, /^done$/);
    await exited(second.child);
    expect(second.lines.filter((l) => l.startsWith('downloaded')).length).toBeGreaterThan(1);

    const after = serverDb ?? (await openDatabase({ ...testDatabaseConfig(), embeddedDir: embeddedDir! }));
    try {
      const written = sandbox.hubspot.journal.entries(APP.appId).reduce((n, entry) => n + entry.events.length, 0);
      const inbox = await after.db.selectFrom('webhook_events').select(['deliveries']).where('source', '=', 'journal').execute();
      // Every event the journal holds is in the inbox once, delivered once: the killed batch was never stored.
      expect(inbox).toHaveLength(written);
      expect(inbox.every((row) => row.deliveries === 1)).toBe(true);
      const position = await after.db.selectFrom('journal_offsets').selectAll().executeTakeFirstOrThrow();
      expect(position.offset).toBe(sandbox.hubspot.journal.entries(APP.appId).at(-1)!.offset);
      expect(Number(position.events)).toBe(written);
      const d = drainer(after.db, config, TIME_SCALE);
      try {
        expect(await d.drain()).toEqual({ entries: 0, events: 0 });
      } finally {
        d.close();
      }
      expect((await mismatches(after.db, sandbox, config.jobs)).mismatches).toEqual([]);
    } finally {
      if (!serverDb) await after.close();
    }
  }, 120_000);
});
