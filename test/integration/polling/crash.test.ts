import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { createTestDb, seededEmbeddedDir, serverUrl, testDatabaseConfig, type TestDb } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';
import { liveTruth, PORTAL, TOKEN } from './harness.ts';

const CHILD = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const TIME_SCALE = 0.01;

let sandbox: Sandbox;
let serverDb: TestDb | undefined;
/** Where the embedded database lives (PGlite runs): the workers and the test take turns opening it. */
const embeddedDir = serverUrl ? undefined : seededEmbeddedDir(tempDir('hubsync-poll-crash'));

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: TIME_SCALE });
  if (serverUrl) serverDb = await createTestDb();
});

afterAll(async () => {
  await sandbox?.close();
  await serverDb?.close();
});

interface Worker {
  child: ChildProcess;
  pages: number;
  searchPages: number;
  done: Promise<string>;
  pagesReached(n: number, search?: boolean): Promise<void>;
}

function startWorker(): Worker {
  const config = {
    database: serverDb ? { url: serverDb.url, ssl: 'disable' } : { embeddedDir },
    hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN }] },
    jobs: [{ name: 'crash', portalId: PORTAL, objectType: 'contacts', properties: ['email', 'firstname'], lookbackSeconds: 0, leaseSeconds: 1, schedule: '0 0 1 1 *' }],
  };
  const child = spawn(process.execPath, [CHILD], { env: { ...process.env, POLL_CHILD: JSON.stringify({ config, timeScale: TIME_SCALE, job: 'crash' }) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const waiters: { n: number; search: boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  const worker: Worker = {
    child,
    pages: 0,
    searchPages: 0,
    done: new Promise((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (line.includes('"page committed"')) {
            // Several pages can commit together: the line carries the run's page count so far.
            const entry = JSON.parse(line) as { kind: string; pages: number };
            if (entry.kind === 'incremental') worker.searchPages = entry.pages;
            else worker.pages = entry.pages;
          }
          const done = /^done (\w+)/.exec(line);
          if (done) resolve(done[1]!);
        }
        for (const w of waiters.filter((x) => (x.search ? worker.searchPages : worker.pages) >= x.n)) w.resolve();
      });
      child.once('exit', (code, signal) => {
        const error = new Error(`worker exited (${code ?? signal}) after ${worker.pages} list and ${worker.searchPages} search pages`);
        for (const w of waiters) w.reject(error);
        reject(error);
      });
    }),
    pagesReached: (n, search = false) => new Promise((resolve, reject) => waiters.push({ n, search, resolve, reject })),
  };
  worker.done.catch(() => undefined);
  return worker;
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

async function mirror(): Promise<{ rows: Map<string, number>; runs: [string, string][]; lastRecords: number }> {
  const handle = serverDb ?? (await openDatabase({ ...testDatabaseConfig(), embeddedDir: embeddedDir! }));
  try {
    const rows = await handle.db.selectFrom('hubspot_objects').select(['object_id', 'hs_updated_at']).where('portal_id', '=', PORTAL).where('object_type', '=', 'contacts').execute();
    const runs = await handle.db.selectFrom('sync_runs').select(['kind', 'status', 'records']).orderBy('id').execute();
    return { rows: new Map(rows.map((r) => [r.object_id, r.hs_updated_at?.getTime() ?? 0])), runs: runs.map((r) => [r.kind, r.status]), lastRecords: runs.at(-1)?.records ?? 0 };
  } finally {
    if (!serverDb) await handle.close();
  }
}

describe('a polling worker killed mid-run', () => {
  it('resumes from the committed cursor with no gap', async () => {
    sandbox.hubspot.seed({ objectType: 'contacts', count: 300, at: Date.now() - 60_000 });
    // First life: the backfill; SIGKILL after a few list pages.
    sandbox.hubspot.seed({ objectType: 'contacts', count: 2700, at: Date.now() - 50_000 });
    const first = startWorker();
    await first.pagesReached(4);
    first.child.kill('SIGKILL');
    await exited(first.child);

    // Changes after the backfill began: 2,000 sharing one timestamp, 1,000 spread out (on 3,000 records).
    const ids = liveTruth(sandbox).map((o) => o.id);
    const at = Date.now() + 5;
    while (Date.now() <= at) await new Promise((r) => setTimeout(r, 2));
    ids.slice(0, 2000).forEach((id, i) => sandbox.hubspot.update('contacts', id, { firstname: `tied-${i}` }, { at, silent: true }));
    ids.slice(2000, 3000).forEach((id, i) => sandbox.hubspot.update('contacts', id, { firstname: `spread-${i}` }, { at: at + 1 + i, silent: true }));
    // A run reads up to its own start: let every change be in the past.
    while (Date.now() <= at + 1000) await new Promise((r) => setTimeout(r, 20));

    // Second life: finishes the backfill, then dies mid-way through the incremental search.
    const second = startWorker();
    await second.pagesReached(10, true);
    second.child.kill('SIGKILL');
    await exited(second.child);

    // Third life: runs to the end.
    const third = startWorker();
    expect(await third.done).toBe('ok');
    await exited(third.child);

    const { rows, runs, lastRecords } = await mirror();
    // The first life died in the backfill, the second in the search; both runs were closed as aborted.
    expect(runs).toEqual([
      ['backfill', 'aborted'],
      ['backfill', 'ok'],
      ['incremental', 'aborted'],
      ['incremental', 'ok'],
    ]);
    // The third life resumed from the second's committed position: it did not read all 3,000 changes again.
    // (A full re-read is 3,000 plus the first tied page; ten committed pages are at least 1,600 new records.)
    expect(lastRecords).toBeLessThan(3200 - 1500);
    const truth = liveTruth(sandbox);
    const wrong = truth.filter((o) => rows.get(o.id) !== o.updatedAt).map((o) => o.id);
    expect(wrong).toEqual([]);
    expect(rows.size).toBe(truth.length);
  }, 240_000);
});
