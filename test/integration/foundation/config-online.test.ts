import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSandboxCommand, SANDBOX_TOKEN } from '../../../src/sandbox/cli.ts';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { runCli } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-online');
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await runSandboxCommand({ seed: 2, streamIntervalMs: 0, print: () => undefined });
});
afterAll(async () => {
  await sandbox?.close();
});

function config(types: string[]): string {
  const file = path.join(dir, `${types.join('-')}.yaml`);
  const jobs = types.map((type, i) => `  - { name: job${i}, portalId: 62515, objectType: "${type}" }`).join('\n');
  writeFileSync(file, `hubspot:\n  baseUrl: ${sandbox.baseUrl}\n  accounts: [{ portalId: 62515, accessToken: ${SANDBOX_TOKEN} }]\njobs:\n${jobs}\n`);
  return file;
}

describe('config check --online', () => {
  it("asks the portal's schemas about custom object types: a known one passes, an unknown one is a problem with its key", async () => {
    const good = await runCli(['config', 'check', '--online', '--config', config(['contacts', '2-3465', 'p_projects'])]);
    expect(good.stderr).toMatch(/is valid\n$/);
    expect(good.code).toBe(0);
    const bad = await runCli(['config', 'check', '--online', '--config', config(['contacts', '2-999'])]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^hubsync: invalid configuration in .*: jobs\[1\]\.objectType: portal 62515 has no object type "2-999"/);
    // Offline, the same file passes: a type id is well formed; only HubSpot knows whether it exists.
    expect((await runCli(['config', 'check', '--config', config(['contacts', '2-999'])])).code).toBe(0);
  });
});
