/**
 * The Webhooks Journal's HTTP API (plain `fetch`: `@hubspot/api-client` 14 has no journal), with
 * every failure as a value. Tolerant where HubSpot's docs leave the form open: "nothing newer" may
 * be a 204, an empty 200 or a 200 without a URL; a batch may answer 204 or an empty `results`.
 * Calls carry the app's bearer token (a 401 gets one retry with a new token); the pre-signed files
 * are fetched without it, as S3 requires.
 */
import { retryAfterMs } from '../retry-after.ts';
import { toEpochMs } from '../hubspot/objects.ts';
import type { TokenSource } from './token.ts';

/** One entry: where its file is, until when, and its offset (`JournalFetchResponse`). */
export interface EntryRef {
  offset: string;
  url: string;
  /** Epoch ms; NaN when HubSpot did not say (then only a failed download tells). */
  expiresAt: number;
}

/** An entry's file: `{offset, journalEvents, publishedAt}`. */
export interface JournalFile {
  offset: string | undefined;
  events: unknown[];
  /** Epoch ms, NaN when absent. */
  publishedAt: number;
}

export type Failure =
  | { ok: false; kind: 'expired'; message: string }
  | { ok: false; kind: 'rate_limited'; retryAfterMs: number | undefined; message: string }
  | { ok: false; kind: 'failed'; status: number | null; message: string };

export type Call<T> = { ok: true; value: T } | Failure;

export interface JournalApiOptions {
  baseUrl: string;
  apiVersion: string;
  /** Read the local journal of this portal; undefined: the global journal. */
  installPortalId?: number | undefined;
  tokens: TokenSource;
  timeoutMs: number;
  fetch?: typeof fetch;
  now?: () => number;
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export interface JournalApi {
  /** The oldest (`earliest`) or newest (`latest`) entry; null when the journal is empty. */
  first(which: 'earliest' | 'latest'): Promise<Call<EntryRef | null>>;
  /** Up to `count` entries after `offset`; [] when caught up; `expired` once the offset is gone. */
  next(offset: string, count: number): Promise<Call<EntryRef[]>>;
  /** Fresh URLs for known offsets (up to 100); offsets HubSpot no longer has are `missing`. */
  read(offsets: readonly string[]): Promise<Call<{ found: EntryRef[]; missing: string[] }>>;
  /** An entry's file, without the Authorization header; `expired` when the URL no longer works. */
  download(entry: EntryRef): Promise<Call<JournalFile>>;
  /** Any other call (subscriptions), JSON in and out, with the token. */
  request(method: string, path: string, body?: unknown): Promise<Call<unknown>>;
}

export function createJournalApi(o: JournalApiOptions): JournalApi {
  const doFetch = o.fetch ?? fetch;
  const now = o.now ?? Date.now;
  const base = o.baseUrl.replace(/\/+$/, '');
  const journal = `${base}/webhooks-journal/${o.installPortalId === undefined ? 'journal' : 'journal-local'}/${o.apiVersion}`;
  const query = o.installPortalId === undefined ? '' : `?installPortalId=${o.installPortalId}`;

  async function send(method: string, url: string, body: unknown, retried = false): Promise<Answer | Failure> {
    const token = await o.tokens.token();
    if (!token.ok) return { ok: false, kind: 'failed', status: token.status, message: token.error };
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      return { ok: false, kind: 'failed', status: null, message: `${method} ${pathOf(url)}: ${(err as Error).message}` };
    }
    if (res.status === 401 && !retried) {
      o.tokens.invalidate(token.token);
      return send(method, url, body, true);
    }
    const answer = { status: res.status, body: parseJson(text), text, headers: res.headers };
    if (res.status === 429) {
      return { ok: false, kind: 'rate_limited', retryAfterMs: retryAfterMs(res.headers.get('retry-after'), now()), message: describe(method, url, answer) };
    }
    return answer;
  }

  const failed = (method: string, url: string, a: Answer): Failure => ({ ok: false, kind: 'failed', status: a.status, message: describe(method, url, a) });

  return {
    async first(which) {
      const url = `${journal}/${which}${query}`;
      const a = await send('GET', url, undefined);
      if ('ok' in a) return a;
      if (a.status === 204 || a.status === 404) return { ok: true, value: null };
      if (a.status !== 200) return failed('GET', url, a);
      return { ok: true, value: entryRef(a.body) ?? null };
    },
    async next(offset, count) {
      const url = `${journal}/batch/${encodeURIComponent(offset)}/next/${count}${query}`;
      const a = await send('GET', url, undefined);
      if ('ok' in a) return a;
      if (a.status === 204) return { ok: true, value: [] };
      if (a.status === 404) return { ok: false, kind: 'expired', message: describe('GET', url, a) };
      if (a.status !== 200 && a.status !== 207) return failed('GET', url, a);
      return { ok: true, value: results(a.body) };
    },
    async read(offsets) {
      const url = `${journal}/batch/read${query}`;
      const a = await send('POST', url, { inputs: offsets });
      if ('ok' in a) return a;
      if (a.status !== 200 && a.status !== 207) return failed('POST', url, a);
      const found = results(a.body);
      const have = new Set(found.map((e) => e.offset));
      return { ok: true, value: { found, missing: offsets.filter((offset) => !have.has(offset)) } };
    },
    async download(entry) {
      if (entry.expiresAt <= now()) return { ok: false, kind: 'expired', message: `the URL of ${entry.offset} expired at ${new Date(entry.expiresAt).toISOString()}` };
      let res: Response;
      let text: string;
      try {
        // No Authorization header: the URL is pre-signed, and S3 refuses a second credential.
        res = await doFetch(entry.url, { signal: AbortSignal.timeout(o.timeoutMs) });
        text = await res.text();
      } catch (err) {
        return { ok: false, kind: 'failed', status: null, message: `download of ${entry.offset}: ${(err as Error).message}` };
      }
      // S3 answers an expired or revoked URL with 403 (AccessDenied), sometimes 404.
      if (res.status === 403 || res.status === 404) return { ok: false, kind: 'expired', message: `download of ${entry.offset} answered ${res.status}` };
      if (!res.ok) return { ok: false, kind: 'failed', status: res.status, message: `download of ${entry.offset} answered ${res.status}` };
      const file = journalFile(parseJson(text));
      if (!file) return { ok: false, kind: 'failed', status: res.status, message: `the file of ${entry.offset} is not a journal file` };
      return { ok: true, value: file };
    },
    async request(method, path, body) {
      const url = `${base}${path}`;
      const a = await send(method, url, body);
      if ('ok' in a) return a;
      if (a.status === 404) return { ok: false, kind: 'expired', message: describe(method, url, a) };
      if (a.status < 200 || a.status >= 300) return failed(method, url, a);
      return { ok: true, value: a.body };
    },
  };
}

/** A `JournalFetchResponse`, or undefined for a body that points at nothing (caught up). */
function entryRef(body: unknown): EntryRef | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const offset = b.currentOffset ?? b.offset;
  if (typeof b.url !== 'string' || b.url === '' || typeof offset !== 'string') return undefined;
  return { offset, url: b.url, expiresAt: typeof b.expiresAt === 'number' ? b.expiresAt : toEpochMs(typeof b.expiresAt === 'string' ? b.expiresAt : undefined) };
}

function results(body: unknown): EntryRef[] {
  const list = body !== null && typeof body === 'object' ? (body as { results?: unknown }).results : undefined;
  return Array.isArray(list) ? list.map(entryRef).filter((e): e is EntryRef => e !== undefined) : [];
}

function journalFile(body: unknown): JournalFile | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  const events = b.journalEvents ?? b.events;
  if (!Array.isArray(events)) return undefined;
  const publishedAt = typeof b.publishedAt === 'number' ? b.publishedAt : toEpochMs(typeof b.publishedAt === 'string' ? b.publishedAt : undefined);
  return { offset: typeof b.offset === 'string' ? b.offset : undefined, events, publishedAt };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function describe(method: string, url: string, a: Answer): string {
  const body = a.body as { message?: unknown; category?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : a.text.slice(0, 200);
  return `${method} ${pathOf(url)} answered ${a.status}${message ? `: ${message}` : ''}`;
}
