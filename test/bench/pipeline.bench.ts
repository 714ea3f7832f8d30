/**
 * The pipeline end to end, as production runs it: a `hubsync run --role web` process and a
 * `hubsync run --role worker` process, with the Node flags the Procfile gives them, on one Postgres, a fresh database, signed batches of 100
 * property changes over 1,000 contacts posted at concurrency 10. Each figure is printed beside
 * its ceiling from the same run:
 *
 * 1. ingest, receiver alone (no worker): the receiver's ceiling; it leaves a backlog;
 * 2. the worker starts on the fresh database (no statistics ever gathered) and drains that
 *    backlog: processed events/s vs the mirror-apply ceiling (`applyObservations` of the same
 *    events in batches of the claim size, in a process started with the worker's Node flags, on a
 *    fresh scratch database, measured just before and just after the drain, which is compared
 *    with their mean); then as
 *    many batches again are posted while it processes: ingest while processing vs 1.; and the
 *    updates (non-HOT among them) and standing dead rows per 1,000 events;
 * 3. the worker stops, a backlog is posted, `ANALYZE` runs, the worker starts again: processed
 *    events/s on an analysed database vs the same ceiling measured after `ANALYZE`;
 * 4. a steady 500 events/s (a batch of 50 every 100 ms) to new contacts: webhook 2xx → value
 *    visible in `hubspot_objects` (p50/p95/p99/max), read by a watcher polling every 2 ms;
 * 5. each process's peak RSS (VmHWM) beside its RSS at start, and its CPU time per 1,000 events.
 *
 * `DATABASE_URL=… npm run bench pipeline`; `PIPELINE_EVENTS` sets the events per phase (default
 * 50,000; 330,000 sends a million in all: three phases of it and the latency probe), and
 * `PIPELINE_WORKERS` the worker processes (default 1; the apply ceiling stays one process's). Postgres only: the embedded database has no second process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { Database } from '../../src/db/schema.ts';
import { applyObservations } from '../../src/mirror/apply.ts';
import type { Observation } from '../../src/mirror/observation.ts';
import { quantile } from '../../src/metrics/registry.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const SECRET = 'bench-client-secret-0000-000000000000';
const PORTAL = 62515;
const BATCH = 100;
const CONCURRENCY = 10;
const CONTACTS = 1_000;
const CLAIM = 500;
const PROPERTIES = ['email', 'firstname', 'lastname', 'phone', 'lifecyclestage'];
const BIN = fileURLToPath(new URL('../../bin/hubsync.js', import.meta.url));

export interface PipelineBenchOptions {
  databaseUrl?: string;
  /** Events posted per phase. */
  events?: number;
  /** Worker processes (each with the default lanes). */
  workers?: number;
}

let nextEventId = 1;
let nextVersion = Date.UTC(2026, 11, 1);

function changeEvent(objectId: number, propertyName: string, propertyValue: string) {
  const eventId = nextEventId++;
  return {
    eventId,
    subscriptionId: 7000 + PROPERTIES.indexOf(propertyName),
    portalId: PORTAL,
    appId: 1001,
    occurredAt: nextVersion++,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId,
    propertyName,
    propertyValue,
    changeSource: 'CRM',
    sourceId: 'userId:1',
  };
}

/** A batch of property changes over the 1,000 contacts, as HubSpot serialises it. */
function churnBatch(): string {
  return JSON.stringify(
    Array.from({ length: BATCH }, (_, i) => {
      const id = nextEventId;
      const property = PROPERTIES[i % PROPERTIES.length]!;
      return changeEvent(1 + (id % CONTACTS), property, `${property}-${id}`);
    }),
  );
}

class Receiver {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  post(body: string): Promise<void> {
    const timestamp = String(Date.now());
    const uri = `http://127.0.0.1:${this.port}/webhooks/hubspot`;
    const signature = createHmac('sha256', SECRET).update(`POST${uri}${body}${timestamp}`, 'utf8').digest('base64');
    const payload = Buffer.from(body, 'utf8');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/webhooks/hubspot',
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': String(payload.length),
            'x-hubspot-signature-v3': signature,
            'x-hubspot-request-timestamp': timestamp,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`receiver answered ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Posts `batches` churn batches at concurrency 10; events/s and ack p99. */
  async flood(batches: number): Promise<{ rate: number; p99: number }> {
    const latencies: number[] = [];
    let sent = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (sent < batches) {
          sent += 1;
          const t0 = performance.now();
          await this.post(churnBatch());
          latencies.push(performance.now() - t0);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { rate: (batches * BATCH * 1000) / (performance.now() - started), p99: quantile(latencies, 0.99) };
  }
}

interface Daemon {
  child: ChildProcess;
  /** The receiver's address, for the web role. */
  address: Promise<string>;
  startRssMb: () => number;
  stop(): Promise<void>;
}

function rssOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Node's flags for a role as the Procfile starts it (`web: node <flags> bin/hubsync.js …`). */
function procfileFlags(role: 'web' | 'worker'): string[] {
  const procfile = readFileSync(fileURLToPath(new URL('../../Procfile', import.meta.url)), 'utf8');
  const line = procfile.split('\n').find((l) => l.startsWith(`${role}:`)) ?? '';
  return (/^\w+:\s*node\s+(.*?)\s*bin\/hubsync\.js/.exec(line)?.[1] ?? '').split(/\s+/).filter(Boolean);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds so far of the worker processes, together. */
function cpuOfAll(workers: readonly Daemon[]): number {
  return workers.reduce((sum, worker) => sum + cpuOf(worker.child.pid!), 0);
}

/** The highest peak RSS (VmHWM) among the worker processes, in MB. */
function peakRss(workers: readonly Daemon[]): number {
  return Math.max(...workers.map((worker) => rssOf(worker.child.pid!, 'VmHWM')));
}

/** CPU seconds so far of each process of the local Postgres server, by pid (none when the server is elsewhere). */
function databaseCpu(): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') cpu.set(Number(entry), cpuOf(Number(entry)));
    } catch {
      // Exited meanwhile.
    }
  }
  return cpu;
}

/** Database CPU seconds used since `before` (backends that exited meanwhile are not counted). */
function databaseCpuSince(before: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, now] of databaseCpu()) seconds += now - (before.get(pid) ?? 0);
  return seconds;
}

/** What a run cost: the database's and the Node process's CPU, in ms per 1,000 events, and the WAL it wrote, in bytes per event. */
interface Cost {
  database: number;
  node: number;
  wal: number;
}

/** A measured rate (events or observations per second) and what it cost. */
interface Measured {
  rate: number;
  cpu: Cost;
}

/** A drain: its rate and cost, and the full-page images it wrote per event. */
type Drained = Measured & { fullPageImages: number };

/** Runs `work` over `events` events and measures its cost; `nodeSeconds` reads the Node process's CPU seconds so far. */
async function costOf(db: Kysely<Database>, nodeSeconds: () => number, events: number, work: () => Promise<void>): Promise<Cost> {
  const wal = await walPosition(db);
  const database = databaseCpu();
  const node = nodeSeconds();
  await work();
  return { database: (databaseCpuSince(database) * 1e6) / events, node: ((nodeSeconds() - node) * 1e6) / events, wal: ((await walPosition(db)) - wal) / events };
}

/** The server's WAL position, in bytes. */
async function walPosition(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ at: string }>`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as at`.execute(db);
  return Number(rows[0]!.at);
}

/** Full-page images the server has written to WAL (`pg_stat_wal`, flushed by each backend within about a second). */
async function fullPageImages(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ fpi: string }>`select wal_fpi::text as fpi from pg_stat_wal`.execute(db);
  return Number(rows[0]!.fpi);
}

function startDaemon(configFile: string, role: 'web' | 'worker'): Daemon {
  const child = spawn(process.execPath, [...procfileFlags(role), BIN, 'run', '--role', role, '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let startRss = 0;
  const address = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hubsync ${role} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: { msg?: string; address?: string } = {};
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'hubsync running') {
        startRss = rssOf(child.pid!, 'VmRSS');
        resolve(entry.address ?? '');
      }
      if (entry.msg === 'webhook receiver listening' && entry.address) resolve(entry.address);
    });
  });
  return {
    child,
    address,
    startRssMb: () => startRss,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Events stored and not yet processed (the processor's queue). */
async function backlog(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhook_pending`.execute(db);
  return rows[0]!.n;
}

/** Whether any event waits: the queue's first entry, so the drain's probe costs the database next to nothing (a count every 50 ms took a quarter of this machine from the worker it measures). */
async function pending(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`select id from webhook_pending order by id limit 1`.execute(db);
  return rows.length > 0;
}

/** Waits until the backlog is empty; events processed per second since `since` (when the worker started). */
async function drain(db: Kysely<Database>, since: number, events: number): Promise<number> {
  while (await pending(db)) await new Promise((resolve) => setTimeout(resolve, 50));
  return (events * 1000) / (performance.now() - since);
}

/** `drain` from now, with the CPU the database and the workers used for it. */
async function measuredDrain(db: Kysely<Database>, workers: readonly Daemon[], events: number): Promise<Drained> {
  const images = await fullPageImages(db);
  let rate = 0;
  const cpu = await costOf(db, () => cpuOfAll(workers), events, async () => {
    rate = await drain(db, performance.now(), events);
  });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return { rate, cpu, fullPageImages: ((await fullPageImages(db)) - images) / events };
}

/**
 * applyObservations of the events the worker sees (claim-sized batches of property changes) on a
 * fresh scratch database, in a process started as the worker is (the Procfile's Node flags): the
 * worker's heap settings cost the apply itself about a third more Node CPU than Node's defaults, and
 * the ceiling is what the apply can do in the worker's place, so the ratio measures what the
 * pipeline adds to it.
 */
async function applyCeiling(adminUrl: string, analysed: boolean, events: number, scratch: string[]): Promise<Measured> {
  const url = await createServerDatabase(adminUrl);
  scratch.push(url);
  const child = spawn(process.execPath, [...procfileFlags('worker'), fileURLToPath(import.meta.url), CEILING_ARGUMENT, JSON.stringify({ url, analysed, events })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  // 'close', not 'exit': the child's output may still be arriving when it exits.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`the apply ceiling's process exited with ${code}`);
  return JSON.parse(output) as Measured;
}

/** The command-line argument that makes this file measure one apply ceiling (`applyCeiling`'s child) and print it as JSON. */
const CEILING_ARGUMENT = '--apply-ceiling';

/** The apply ceiling's measurement, in its own process: `events` observations (at least 20 batches) applied to `url` after the contacts exist. */
async function measureApplyCeiling(url: string, analysed: boolean, events: number): Promise<Measured> {
  const handle = await openDatabase(testDatabaseConfig(url));
  try {
    await migrateToLatest(handle.db);
    const batch = (): Observation[] =>
      Array.from({ length: CLAIM }, (_, i) => {
        const id = nextEventId++;
        const property = PROPERTIES[i % PROPERTIES.length]!;
        return {
          kind: 'propertyChange' as const,
          ref: { portalId: PORTAL, objectType: 'contacts', objectId: String(1 + (id % CONTACTS)) },
          version: nextVersion++,
          via: 'webhook' as const,
          seenAt: new Date(),
          property,
          value: `${property}-${id}`,
        };
      });
    // The first pass creates the contacts, as the worker's first batches do.
    for (let i = 0; i < 4; i++) await handle.db.transaction().execute((trx) => applyObservations(trx, batch()));
    if (analysed) await sql`analyze`.execute(handle.db);
    const batches = Math.max(20, Math.round(events / CLAIM));
    const applied = batches * CLAIM;
    const ownSeconds = () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    };
    let rate = 0;
    const cpu = await costOf(handle.db, ownSeconds, applied, async () => {
      const started = performance.now();
      for (let i = 0; i < batches; i++) await handle.db.transaction().execute((trx) => applyObservations(trx, batch()));
      rate = (applied * 1000) / (performance.now() - started);
    });
    return { rate, cpu };
  } finally {
    await handle.close();
  }
}

interface Churn {
  deadRows: number;
  updates: number;
  hotUpdates: number;
}

async function churn(db: Kysely<Database>): Promise<Churn> {
  const { rows } = await sql<{ dead: number; upd: number; hot: number }>`
    select sum(n_dead_tup)::int8 as dead, sum(n_tup_upd)::int8 as upd, sum(n_tup_hot_upd)::int8 as hot
    from pg_stat_user_tables where relname in ('webhook_events', 'webhook_pending', 'hubspot_objects', 'change_ledger')`.execute(db);
  return { deadRows: Number(rows[0]!.dead), updates: Number(rows[0]!.upd), hotUpdates: Number(rows[0]!.hot) };
}

/** The inbox and its queue on disk: heap, TOAST and indexes. */
async function inboxBytes(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ bytes: string }>`select (pg_total_relation_size('webhook_events') + pg_total_relation_size('webhook_pending'))::text as bytes`.execute(db);
  return Number(rows[0]!.bytes);
}

/** A steady 500 events/s to new contacts for `seconds`; per event, 2xx → visible in the mirror. */
async function latency(db: Kysely<Database>, receiver: Receiver, seconds: number): Promise<number[]> {
  const PER_TICK = 50;
  const TICK_MS = 100;
  const waiting = new Map<string, number>();
  const latencies: number[] = [];
  let nextContact = 1_000_000;
  let sending = true;
  const watcher = (async () => {
    while (sending || waiting.size > 0) {
      if (waiting.size > 0) {
        const ids = [...waiting.keys()];
        const { rows } = await sql<{ object_id: string }>`
          select object_id from hubspot_objects
          where portal_id = ${PORTAL} and object_type = 'contacts' and object_id = any(${ids}::text[]) and properties ? 'email'`.execute(db);
        const seenAt = performance.now();
        for (const row of rows) {
          const acked = waiting.get(row.object_id);
          if (acked === undefined) continue;
          latencies.push(seenAt - acked);
          waiting.delete(row.object_id);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  const posts: Promise<void>[] = [];
  const started = performance.now();
  for (let tick = 0; tick < (seconds * 1000) / TICK_MS; tick++) {
    const due = started + tick * TICK_MS;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    const ids = Array.from({ length: PER_TICK }, () => nextContact++);
    const body = JSON.stringify(ids.map((id) => changeEvent(id, 'email', `probe-${id}@example.com`)));
    posts.push(
      receiver.post(body).then(() => {
        const acked = performance.now();
        for (const id of ids) waiting.set(String(id), acked);
      }),
    );
  }
  await Promise.all(posts);
  sending = false;
  await watcher;
  return latencies.sort((a, b) => a - b);
}

/** Runs the benchmark and returns the lines to print. */
export async function run(options: PipelineBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  if (!adminUrl) return ['skipped: the pipeline runs separate receiver and worker processes on one Postgres; set DATABASE_URL'];
  const events = options.events ?? Number(process.env.PIPELINE_EVENTS ?? 50_000);
  const workerCount = options.workers ?? Number(process.env.PIPELINE_WORKERS ?? 1);
  /** The worker processes, as the printed lines name them. */
  const workersName = workerCount > 1 ? `${workerCount} workers` : 'worker';
  const batches = Math.max(50, Math.round(events / BATCH));
  const load = () => `load ${os.loadavg()[0]!.toFixed(1)}`;
  const lines: string[] = [
    `Postgres; separate web and ${workersName} processes; ${batches} signed batches of ${BATCH} property changes over ${CONTACTS} contacts per phase, ` +
      `concurrency ${CONCURRENCY}; claim ${CLAIM}; node flags from the Procfile: web ${procfileFlags('web').join(' ') || 'none'}, ` +
      `worker ${procfileFlags('worker').join(' ') || 'none'}; ${os.cpus().length} cores shared by this client, both processes and the database`,
  ];

  // Each ceiling is measured just before and just after the drain it is compared with (on its own
  // scratch database, the daemons idle), and the drain compared with their mean: this machine's
  // speed drifts by a third within minutes, and a ratio to a ceiling taken earlier measures the drift.
  // The scratch databases are dropped after the drain: dropping a database forces a checkpoint,
  // after which the drain's first change to each inbox page would write the whole page to WAL.
  const ceiling = async (analysed: boolean, drained: () => Promise<Drained>) => {
    const scratch: string[] = [];
    let before, drain, after;
    try {
      before = await applyCeiling(adminUrl, analysed, events, scratch);
      drain = await drained();
      after = await applyCeiling(adminUrl, analysed, events, scratch);
    } finally {
      for (const url of scratch) await dropServerDatabase(adminUrl, url);
    }
    const { rate, cpu, fullPageImages } = drain;
    const mean = (before.rate + after.rate) / 2;
    const ms = (x: number) => x.toFixed(0);
    return {
      rate,
      text: `applyObservations (the worker's Node flags) ${before.rate.toFixed(0)} / ${after.rate.toFixed(0)} obs/s just before / after`,
      ratio: (rate / mean).toFixed(2),
      cpu:
        `CPU per 1,000 events: the drain ${ms(cpu.database)} ms in the database + ${ms(cpu.node)} ms in the ${workersName}, ` +
        `${ms(cpu.wal)} bytes of WAL per event (${fullPageImages.toFixed(2)} full-page images); ` +
        `applyObservations ${ms((before.cpu.database + after.cpu.database) / 2)} ms in the database + ${ms((before.cpu.node + after.cpu.node) / 2)} ms in Node, ` +
        `${ms((before.cpu.wal + after.cpu.wal) / 2)} bytes of WAL per event`,
    };
  };

  const url = await createServerDatabase(adminUrl);
  const dir = mkdtempSync(join(os.tmpdir(), 'hubsync-pipeline-'));
  const configFile = join(dir, 'hubsync.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      database: { url },
      http: { port: 0, host: '127.0.0.1' },
      hubspot: { apps: [{ appId: 1001, clientSecret: SECRET }] },
      webhooks: { processBatchSize: CLAIM },
      metrics: { intervalSeconds: 3600 },
      log: { level: 'info', pretty: 'never' },
    }),
  );
  const handle = await openDatabase(testDatabaseConfig(url));
  const daemons: Daemon[] = [];
  try {
    const { db } = handle;
    await migrateToLatest(db);
    const web = startDaemon(configFile, 'web');
    daemons.push(web);
    const receiver = new Receiver(Number(new URL(await web.address).port));

    // 1. The receiver alone (after a warm-up).
    await receiver.flood(20);
    const alone = await receiver.flood(batches);
    lines.push(`1. ingest, receiver alone: ${alone.rate.toFixed(0)} events/s, ack p99 ${alone.p99.toFixed(0)} ms (${load()})`);

    // 2. The worker on a fresh database (never analysed) drains the backlog, then processes while as many batches again arrive.
    const before = await churn(db);
    const backlogged = await backlog(db);
    const startWorkers = async () => {
      const started = Array.from({ length: workerCount }, () => startDaemon(configFile, 'worker'));
      daemons.push(...started);
      await Promise.all(started.map((worker) => worker.address));
      return started;
    };
    let workers: Daemon[] = [];
    const fresh = await ceiling(false, async () => {
      workers = await startWorkers();
      return measuredDrain(db, workers, backlogged);
    });
    lines.push(
      `2. processed, fresh database (a backlog of ${backlogged} events, no sending): ${fresh.rate.toFixed(0)} events/s vs ${fresh.text} ` +
        `on a fresh database: ${fresh.ratio} (target ≥ 0.8) (${load()})`,
      `   ${fresh.cpu}`,
    );
    const sendingStart = performance.now();
    const during = await receiver.flood(batches);
    const whileSending = await drain(db, sendingStart, batches * BATCH);
    lines.push(
      `   ingest while the worker processes: ${during.rate.toFixed(0)} events/s, ack p99 ${during.p99.toFixed(0)} ms, ` +
        `${(during.rate / alone.rate).toFixed(2)} of the receiver alone (target ≥ 0.8); processed meanwhile ${whileSending.toFixed(0)} events/s (${load()})`,
    );
    // The server's counters reach pg_stat_user_tables within a second or two of each transaction.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await churn(db);
    const stored = backlogged + batches * BATCH;
    const perThousand = (n: number) => ((n * 1000) / stored).toFixed(0);
    lines.push(
      `   churn per 1,000 events (inbox and its queue, mirror, ledger): ${perThousand(after.updates - before.updates)} updates, ` +
        `${perThousand(after.updates - before.updates - (after.hotUpdates - before.hotUpdates))} of them non-HOT; ` +
        `${perThousand(after.deadRows)} dead rows standing at the end; the inbox on disk ${((await inboxBytes(db)) / stored).toFixed(0)} bytes per event`,
    );

    // 3. Worker stopped; a backlog; ANALYZE; the worker again.
    const firstWorkerPeak = peakRss(workers);
    const firstWorkerCpu = cpuOfAll(workers);
    for (const worker of workers) await worker.stop();
    await receiver.flood(batches);
    await sql`analyze`.execute(db);
    const analysed = await ceiling(true, async () => {
      workers = await startWorkers();
      return measuredDrain(db, workers, batches * BATCH);
    });
    lines.push(
      `3. processed, analysed database (a backlog of ${batches * BATCH} events, no sending): ${analysed.rate.toFixed(0)} events/s vs ${analysed.text} ` +
        `after ANALYZE: ${analysed.ratio} (target ≥ 0.8) (${load()})`,
      `   ${analysed.cpu}`,
    );
    const sent = backlogged + 3 * batches * BATCH;

    // 4. Latency at a steady 500 events/s.
    const seen = await latency(db, receiver, 10);
    lines.push(
      `4. webhook 2xx → visible in hubspot_objects at 500 events/s (${seen.length} events): p50 ${quantile(seen, 0.5).toFixed(0)} ms, ` +
        `p95 ${quantile(seen, 0.95).toFixed(0)} ms, p99 ${quantile(seen, 0.99).toFixed(0)} ms (target < 100 ms), max ${seen.at(-1)!.toFixed(0)} ms (${load()})`,
    );

    // 5. Memory and CPU.
    const total = sent + seen.length;
    lines.push(
      `5. peak RSS over ${(total / 1000).toFixed(0)}k events: web ${rssOf(web.child.pid!, 'VmHWM').toFixed(0)} MB (${web.startRssMb().toFixed(0)} MB at start), ` +
        `${workersName}${workerCount > 1 ? ' (the highest)' : ''} ${peakRss(workers).toFixed(0)} MB (${workers[0]!.startRssMb().toFixed(0)} MB at start; ` +
        `${firstWorkerPeak.toFixed(0)} MB in phase 2) (target < 200 MB)`,
    );
    const perThousandEvents = (seconds: number) => ((seconds * 1000 * 1000) / total).toFixed(0);
    lines.push(
      `   CPU per 1,000 events: web ${perThousandEvents(cpuOf(web.child.pid!))} ms, ${workersName} ${perThousandEvents(firstWorkerCpu + cpuOfAll(workers))} ms ` +
        `(both processes' whole lives, start-up included)`,
    );
    await receiver.agent.destroy();
    return lines;
  } finally {
    for (const daemon of daemons) await daemon.stop();
    await handle.close();
    await dropServerDatabase(adminUrl, url);
    rmSync(dir, { recursive: true, force: true });
  }
}


if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv[2] === CEILING_ARGUMENT) {
    const { url, analysed, events } = JSON.parse(process.argv[3]!) as { url: string; analysed: boolean; events: number };
    process.stdout.write(JSON.stringify(await measureApplyCeiling(url, analysed, events)));
  } else {
    for (const line of await run()) console.log(line);
  }
}
