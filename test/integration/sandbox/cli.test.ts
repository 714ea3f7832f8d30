import { Client } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import { runSandboxCommand, SANDBOX_TOKEN } from '../../../src/sandbox/cli.ts';

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
});
