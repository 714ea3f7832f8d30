import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { webhookStatus } from '../../../src/webhooks/inbox-store.ts';
import { createLogger } from '../../../src/log.ts';
import type { PollingService } from '../../../src/polling/scheduler.ts';
import { finished, startCli } from '../../helpers/cli.ts';
import { startSandboxDaemon } from '../../helpers/daemon.ts';
import { createServerDatabase, dropServerDatabase, seededEmbeddedDir, serverUrl } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const DROP_RATE = 0.25;
const UPDATES = 400;
const dir = tempDir('hubsync-coverage');
let databaseUrl: string | undefined;
afterAll(async () => {
  if (databaseUrl) await dropServerDatabase(serverUrl!, databaseUrl);
});

const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });

describe('polling vs webhooks report after an end-to-end sandbox run', () => {
  it('reports webhook coverage matching the configured drop rate', async () => {
    databaseUrl = serverUrl ? await createServerDatabase(serverUrl) : undefined;
    const file = path.join(dir, 'hubsync.yaml');
    writeFileSync(
      file,
      `sandbox: true
sandboxOptions: { seed: 7, streamIntervalMs: 0, initialChanges: 0, webhookDropRate: ${DROP_RATE} }
database: { url: "${databaseUrl ?? ''}", embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }
http: { port: 0, host: 127.0.0.1 }
jobs:
  - { name: contacts, portalId: 62515, objectType: contacts, properties: [email, firstname, lastname], schedule: "0 0 1 1 *", lookbackSeconds: 60 }
`,
    );
    const config = loadConfig(await import('node:fs/promises').then((fs) => fs.readFile(file, 'utf8')), {});
    const log = createLogger({ level: 'warn', destination: quiet });
    const running = await startSandboxDaemon(config, log);
    const { handle, sandbox, daemon } = running;
    const polling = daemon.services.find((service) => service.name === 'polling') as PollingService;
    const processor = daemon.services.find((service) => 'idle' in service) as unknown as { idle(): Promise<void> };
    try {
      sandbox.connect(daemon.receiverUrl()!);
      // A poll that really runs (after the start-up one): first the backfill of the day-old data.
      await polling.runNow('contacts');
      // One change to each of two properties of distinct contacts, so every change stays visible to polling.
      const hs = sandbox.sandbox.hubspot;
      const contacts = hs.truth()[0]!.objects.filter((o) => o.objectType === 'contacts' && !o.archived).slice(0, UPDATES / 2);
      expect(contacts).toHaveLength(UPDATES / 2);
      for (const [i, contact] of contacts.entries()) {
        hs.update('contacts', contact.id, { email: `changed-${i}@example.com` });
        hs.update('contacts', contact.id, { firstname: `Changed${i}` });
      }
      await sandbox.sandbox.idle();
      while ((await webhookStatus(handle.db)).backlog > 0) await processor.idle();
      await polling.runNow('contacts');
      const dropped = hs.deliveries().filter((d) => d.dropped && d.event.subscriptionType === 'contact.propertyChange').length;
      expect(dropped / UPDATES).toBeGreaterThan(DROP_RATE - 0.06);
      expect(dropped / UPDATES).toBeLessThan(DROP_RATE + 0.06);
    } finally {
      await running.close();
    }

    const result = await finished(startCli(['status', '--json', '--config', file]));
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as { coverage: { groups: { objectType: string; changes: number; paths: { webhook: { coverage: number; missed: number } } }[] } };
    const contacts = status.coverage.groups.find((group) => group.objectType === 'contacts')!;
    expect(contacts.changes).toBe(UPDATES);
    expect(contacts.paths.webhook.coverage).toBeGreaterThan(1 - DROP_RATE - 0.06);
    expect(contacts.paths.webhook.coverage).toBeLessThan(1 - DROP_RATE + 0.06);
    expect(contacts.paths.webhook.missed).toBe(Math.round(UPDATES * (1 - contacts.paths.webhook.coverage)));
  });
});
