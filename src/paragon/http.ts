/** One HTTP exchange with Paragon, with every failure mode as a value. */
export type HttpOutcome =
  | { kind: 'response'; status: number; headers: Headers; body: unknown; text: string }
  | { kind: 'timeout' }
  | { kind: 'network'; error: string };

export type Fetch = typeof fetch;

export interface RequestOptions {
  method: string;
  url: string;
  token: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs: number;
  fetch?: Fetch;
}

/** Sends a JSON request with a bearer token and a hard timeout; never throws for network trouble. */
export async function requestJson(o: RequestOptions): Promise<HttpOutcome> {
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await (o.fetch ?? fetch)(o.url, {
      method: o.method,
      signal,
      headers: {
        authorization: `Bearer ${o.token}`,
        accept: 'application/json',
        ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...o.headers,
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });
    const text = await res.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    return { kind: 'response', status: res.status, headers: res.headers, body, text };
  } catch (err) {
    if (signal.aborted) return { kind: 'timeout' };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: 'network', error: e.cause?.code ?? e.cause?.message ?? e.message };
  }
}

/** A short description of a failed outcome for `last_error` and logs (bodies trimmed, never tokens). */
export function describeOutcome(o: HttpOutcome): string {
  if (o.kind === 'timeout') return 'timeout';
  if (o.kind === 'network') return `network error: ${o.error}`;
  const message = typeof o.body === 'object' && o.body !== null && 'message' in o.body ? String((o.body as { message: unknown }).message) : o.text;
  return `HTTP ${o.status}${message ? `: ${message.slice(0, 300)}` : ''}`;
}
