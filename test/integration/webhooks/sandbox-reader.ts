import { Client } from '@hubspot/api-client';
import type { HubSpotObject, HubSpotReader } from '../../../src/hubspot/objects.ts';

/**
 * A HubSpotReader over @hubspot/api-client pointed at the sandbox, for tests: no shared budget,
 * no retries (the client's own are off). `calls` records every batch read.
 */
export function sandboxReader(baseUrl: string, accessToken: string): HubSpotReader & { calls: { objectType: string; ids: readonly string[] }[]; failNext: number } {
  const client = new Client({ accessToken, basePath: baseUrl, numberOfApiCallRetries: 0 });
  const reader = {
    calls: [] as { objectType: string; ids: readonly string[] }[],
    failNext: 0,
    async batchRead(_portalId: number, objectType: string, ids: readonly string[], properties: readonly string[] | 'all') {
      reader.calls.push({ objectType, ids });
      if (reader.failNext > 0) {
        reader.failNext -= 1;
        throw new Error('injected hydration failure');
      }
      const response = await client.apiRequest({
        method: 'POST',
        path: `/crm/v3/objects/${objectType}/batch/read`,
        body: { inputs: ids.map((id) => ({ id })), ...(properties === 'all' ? {} : { properties }) },
      });
      if (response.status !== 200 && response.status !== 207) throw new Error(`batch read answered ${response.status}`);
      const json = (await response.json()) as { results: HubSpotObject[]; errors?: { context?: { ids?: string[] } }[] };
      return { results: json.results, missing: (json.errors ?? []).flatMap((e) => e.context?.ids ?? []) };
    },
  };
  return reader;
}
