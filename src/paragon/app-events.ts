import { requestJson, type Fetch, type HttpOutcome } from './http.ts';

export interface AppEventsClientOptions {
  baseUrl: string;
  projectId: string;
  timeoutMs: number;
  fetch?: Fetch;
}

/**
 * Sends one App Event: `POST <baseUrl>/projects/<projectId>/sdk/events/trigger` with the user's
 * token. `201` means Paragon received it (not that a workflow ran).
 */
export function createAppEventsClient(o: AppEventsClientOptions): (token: string, event: { name: string; payload: unknown }) => Promise<HttpOutcome> {
  const url = `${o.baseUrl.replace(/\/+$/, '')}/projects/${encodeURIComponent(o.projectId)}/sdk/events/trigger`;
  return (token, event) =>
    requestJson({ method: 'POST', url, token, body: { name: event.name, payload: event.payload }, timeoutMs: o.timeoutMs, ...(o.fetch ? { fetch: o.fetch } : {}) });
}
