import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { runCli } from '../../helpers/cli.ts';
import { createTestDb, seededEmbeddedDir, serverUrl, type TestDb } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';
import { APP, PORTAL, startJournalSandbox, TOKEN } from './harness.ts';

const dir = tempDir('hubsync-journal-cli');
/** The JSON a command printed after its log lines. */
const printed = (stdout: string): unknown => JSON.parse(/^\{$[^]*?^\}$/m.exec(stdout)![0]);
let sandbox: Sandbox;
let serverDb: TestDb | undefined;

beforeAll(async () => {
  sandbox = await startJournalSandbox();
  if (serverUrl) serverDb = await createTestDb();
});

afterAll(async () => {
  await sandbox?.close();
  await serverDb?.close();
});

describe(`journal commands on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('`journal subscriptions sync` and `status` key a custom object named by its name as the worker does (by its type id)', async () => {
    const file = path.join(dir, 'hubsync.yaml');
    writeFileSync(
      file,
      `database: { url: "${serverDb?.url ?? ''}", embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }
hubspot:
  baseUrl: ${sandbox.baseUrl}
  accounts: [{ portalId: ${PORTAL}, accessToken: ${TOKEN} }]
  journal: { clientId: ${APP.clientId}, clientSecret: ${APP.clientSecret} }
jobs:
  - { name: contacts, portalId: ${PORTAL}, objectType: contacts, properties: [email], schedule: "0 0 1 1 *" }
  - { name: projects, portalId: ${PORTAL}, objectType: p_projects, properties: [name], schedule: "0 0 1 1 *" }
`,
    );
    const sync = await runCli(['journal', 'subscriptions', 'sync', '--config', file]);
    expect(sync.stdout).not.toMatch(/"level":(40|50)/);
    expect(sync.code).toBe(0);
    const made = sandbox.hubspot.journal.subscriptions(APP.appId);
    const objects = made.filter((s) => s.subscriptionType === 'OBJECT').map((s) => s.objectTypeId).sort();
    expect(objects).toEqual(['0-1', '2-3465']);
    const contacts = made.find((s) => s.subscriptionType === 'ASSOCIATION' && s.objectTypeId === '0-1');
    expect(contacts?.associatedObjectTypeIds).toEqual(['2-3465']);

    // A second sync changes nothing; status sees every subscription as configured.
    const again = await runCli(['journal', 'subscriptions', 'sync', '--config', file]);
    expect(printed(again.stdout)).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: made.length, failures: [] });
    const status = await runCli(['status', '--json', '--config', file]);
    expect(status.code).toBe(0);
    expect(status.stderr).not.toMatch(/"level":(40|50)/);
    const report = JSON.parse(status.stdout) as { journal: { subscriptions: unknown }; coverage: { journal: { groups: string[] } } };
    expect(report.journal.subscriptions).toEqual({ inSync: made.length, toCreate: 0, toUpdate: 0, toDelete: 0, conflicts: [] });
    expect(report.coverage.journal.groups).toEqual([`${PORTAL}/contacts`, `${PORTAL}/2-3465`]);
  });
});
