import { Client } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import { createAppEventsClient } from '../../../src/paragon/app-events.ts';
import { createUserTokenSigner } from '../../../src/paragon/token.ts';
import { runSandboxCommand, SANDBOX_PROJECT_ID, SANDBOX_TOKEN } from '../../../src/sandbox/cli.ts';

describe('runSandboxCommand', () => {
  it('starts a seeded sandbox and prints its URL and token', async () => {
    const lines: string[] = [];
    const sandbox = await runSandboxCommand({ seed: 9, timeScale: 0.1, streamIntervalMs: 0, print: (l) => lines.push(l) });
    try {
      expect(lines.join('\n')).toContain(sandbox.baseUrl);
      expect(lines.join('\n')).toContain(SANDBOX_TOKEN);
      const client = new Client({ accessToken: SANDBOX_TOKEN, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
      const page = await client.crm.companies.basicApi.getPage(100);
      expect(page.results.length).toBeGreaterThan(10);
    } finally {
      await sandbox.close();
    }
  });

  it('serves Paragon too: App Events signed with the key it prints are received', async () => {
    const lines: string[] = [];
    const sandbox = await runSandboxCommand({ seed: 9, timeScale: 0.1, streamIntervalMs: 0, print: (l) => lines.push(l) });
    try {
      const text = lines.join('\n');
      expect(text).toContain(`project ${SANDBOX_PROJECT_ID} (paragon.projectId)`);
      const printedKey = JSON.parse(/^\s+("-----BEGIN [^\n]*)$/m.exec(text)![1]!) as string;
      const signer = createUserTokenSigner({ projectId: SANDBOX_PROJECT_ID, signingKey: printedKey, ttlSeconds: 600 });
      const send = createAppEventsClient({ baseUrl: sandbox.baseUrl, projectId: SANDBOX_PROJECT_ID, timeoutMs: 5000 });
      const outcome = await send(await signer.token('user-1'), { name: 'Contact Created', payload: { email: 'a@example.com' } });
      expect(outcome).toMatchObject({ kind: 'response', status: 201 });
      expect(sandbox.paragon!.appEvents.map((e) => e.name)).toEqual(['Contact Created']);
    } finally {
      await sandbox.close();
    }
  });
});
