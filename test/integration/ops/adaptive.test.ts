import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { ledgerReport } from '../../../src/mirror/ledger-store.ts';
import { createLogger } from '../../../src/log.ts';
import { startSandboxDaemon } from '../../helpers/daemon.ts';
import { createServerDatabase, dropServerDatabase, seededEmbeddedDir, serverUrl } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-adaptive');
let databaseUrl: string | undefined;
afterAll(async () => {
  if (databaseUrl) await dropServerDatabase(serverUrl!, databaseUrl);
});

interface AdaptiveLine {
  time: string;
  msg: string;
  action: 'stretch' | 'snap-back';
  intervalSeconds: number;
  changes: number;
  missed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('adaptive polling in a running daemon', () => {
  it('stretches the interval while webhooks deliver every change and snaps back after injected drops', async () => {
    databaseUrl = serverUrl ? await createServerDatabase(serverUrl) : undefined;
    // Ticks every second; at most every 8 s while webhooks are complete.
    const config = loadConfig(
      `sandbox: true
sandboxOptions: { seed: 11, streamIntervalMs: 0, initialChanges: 0 }
database: { url: "${databaseUrl ?? ''}", embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }
http: { port: 0, host: 127.0.0.1 }
jobs:
  - name: contacts
    portalId: 62515
    objectType: contacts
    properties: [email, firstname]
    schedule: "* * * * * *"
    lookbackSeconds: 1
    adaptive: { enabled: true, minCoverage: 0.99, maxIntervalSeconds: 8 }
`,
      {},
    );
    const adaptive: AdaptiveLine[] = [];
    const capture = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) {
          if (line.includes('adaptive polling')) adaptive.push(JSON.parse(line) as AdaptiveLine);
        }
        done();
      },
    });
    const log = createLogger({ level: 'info', destination: capture });
    const running = await startSandboxDaemon(config, log);
    const { handle, sandbox, daemon } = running;
    const hs = sandbox.sandbox.hubspot;
    let contacts: { id: string }[] = [];
    let updates = 0;
    let updating = false;
    const update = () => hs.update('contacts', contacts[updates % contacts.length]!.id, { firstname: `Update${updates++}` });
    let updater = Promise.resolve();
    const pollStarts = async (after: Date) =>
      (await handle.db.selectFrom('sync_runs').select('started_at').where('kind', '=', 'incremental').where('started_at', '>', after).orderBy('id').execute()).map((r) => r.started_at.getTime());
    try {
      sandbox.connect(daemon.receiverUrl()!);
      contacts = hs.truth()[0]!.objects.filter((o) => o.objectType === 'contacts' && !o.archived);
      updating = true;
      updater = (async () => {
        while (updating) {
          update();
          await sleep(250);
        }
      })();

      // Webhooks deliver every change: the interval doubles to the maximum and stays there while
      // changes keep coming, every one of them delivered.
      const stretched = await waitFor('the interval to reach 8 s', () => adaptive.find((l) => l.action === 'stretch' && l.intervalSeconds === 8));
      expect(adaptive.map((l) => [l.action, l.intervalSeconds])).toEqual([['stretch', 2], ['stretch', 4], ['stretch', 8]]);
      const before = updates;
      await sleep(17_000);
      expect(updates - before).toBeGreaterThan(40);
      expect(adaptive.filter((l) => l.action === 'snap-back')).toEqual([]);
      const stretchedStarts = await pollStarts(new Date(stretched.time));
      const stretchedGaps = stretchedStarts.slice(1).map((t, i) => t - stretchedStarts[i]!);
      expect(stretchedGaps.length).toBeGreaterThanOrEqual(1);
      expect(Math.min(...stretchedGaps)).toBeGreaterThan(7_000);
      const judged = await ledgerReport(handle.db, { portalId: 62515, objectType: 'contacts', since: new Date(stretched.time), until: new Date(Date.now() - 5_000), propertiesOnly: true });
      expect(judged.total.changes).toBeGreaterThan(20);
      expect(judged.total.paths.webhook.missed).toBe(0);

      // Webhooks stop arriving: the next poll that can judge the changes finds them missed.
      updating = false;
      await updater;
      hs.setFaults({ dropRate: 1 });
      for (let i = 0; i < 20; i++) update();
      const snapped = await waitFor('the snap-back', () => adaptive.find((l) => l.action === 'snap-back'), 30_000);
      expect(snapped.intervalSeconds).toBe(1);
      expect(snapped.missed).toBeGreaterThan(0);
      // Back to every tick (a poll's own duration aside): well over the one or two polls 8 s would allow.
      await sleep(8_000);
      const snappedStarts = await pollStarts(new Date(snapped.time));
      expect(snappedStarts.length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...snappedStarts.slice(1).map((t, i) => t - snappedStarts[i]!))).toBeLessThan(7_000);
    } finally {
      updating = false;
      await updater;
      await running.close();
    }
  }, 120_000);
});
