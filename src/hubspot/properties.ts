/**
 * Property names per object type, for `properties: all` (polling and hydration): read from the
 * properties API (`GET /crm/v3/properties/{type}`), cached per type, re-read once `ttlMs` old, and
 * re-read early when data names a property the cache lacks (one created since). Real portals have
 * hundreds to over a thousand properties per type, so callers must keep them out of query strings
 * (see `listUrlLength`).
 */
import type { CallResult } from './outcome.ts';

export interface PropertyCatalog {
  /**
   * The type's property names; `undefined` when the API lists none for it (a 4xx: an unknown type or
   * a missing scope), and reads then take HubSpot's default properties.
   */
  names(objectType: string, signal?: AbortSignal): Promise<CallResult<readonly string[] | undefined>>;
  /** Property names seen in data (webhooks, posted records): one the cache lacks makes the next `names` re-read. */
  observe(objectType: string, names: Iterable<string>): void;
}

export interface PropertyCatalogOptions {
  /** Reads the type's property names from the API. */
  load(objectType: string, signal: AbortSignal | undefined): Promise<CallResult<string[]>>;
  /** How long a list is used before it is read again. */
  ttlMs: number;
  /** An unknown name re-reads the list at most this often (a name the API never lists must not cost a call per event). */
  minRefreshMs: number;
  now: () => number;
  /** Told when a re-read fails and the older list stays in use. */
  onStale?: (objectType: string, message: string) => void;
}

interface Entry {
  names: readonly string[] | undefined;
  known: ReadonlySet<string>;
  loadedAt: number;
  unknownSeen: boolean;
}

export function createPropertyCatalog(o: PropertyCatalogOptions): PropertyCatalog {
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<CallResult<readonly string[] | undefined>>>();

  const due = (entry: Entry, now: number) =>
    now - entry.loadedAt >= o.ttlMs || (entry.unknownSeen && now - entry.loadedAt >= o.minRefreshMs);

  async function load(objectType: string, signal: AbortSignal | undefined): Promise<CallResult<readonly string[] | undefined>> {
    const result = await o.load(objectType, signal);
    const previous = entries.get(objectType);
    if (result.ok || result.failure === 'client') {
      const names = result.ok ? result.value : undefined;
      entries.set(objectType, { names, known: new Set(names), loadedAt: o.now(), unknownSeen: false });
      return { ok: true, value: names };
    }
    // HubSpot is down or we are stopping: an older list is better than none.
    if (previous && result.failure !== 'aborted') {
      o.onStale?.(objectType, result.message);
      return { ok: true, value: previous.names };
    }
    return result;
  }

  return {
    async names(objectType, signal) {
      for (;;) {
        const entry = entries.get(objectType);
        if (entry && !due(entry, o.now())) return { ok: true, value: entry.names };
        let pending = loading.get(objectType);
        const shared = pending !== undefined;
        if (!pending) {
          pending = load(objectType, signal).finally(() => loading.delete(objectType));
          loading.set(objectType, pending);
        }
        const result = await pending;
        // A read shared with a caller that stopped ends with that caller's signal: read again for this one.
        if (!shared || result.ok || result.failure !== 'aborted' || signal?.aborted) return result;
      }
    },
    observe(objectType, names) {
      const entry = entries.get(objectType);
      if (!entry?.names || entry.unknownSeen) return;
      for (const name of names) {
        if (!entry.known.has(name)) {
          entry.unknownSeen = true;
          return;
        }
      }
    },
  };
}

/**
 * The longest list-page URL hubsync sends. HubSpot documents no limit; integrations report 414s from
 * about 16,000 characters at HubSpot and from 8,000 at proxies, some from 2,000 or 3,000. Past this
 * a page is listed by id and read with a POST batch read, whose body carries the names.
 */
export const MAX_LIST_URL_LENGTH = 2000;

/** The length of the URL `@hubspot/api-client`'s `basicApi.getPage` builds (one `properties=` per name). */
export function listUrlLength(baseUrl: string, objectType: string, page: { limit: number; after?: string | undefined; properties?: readonly string[] | undefined; archived?: boolean | undefined }): number {
  const url = new URL(`${baseUrl.replace(/\/$/, '')}/crm/v3/objects/${encodeURIComponent(objectType)}`);
  url.searchParams.set('limit', String(page.limit));
  if (page.after !== undefined) url.searchParams.set('after', page.after);
  for (const name of page.properties ?? []) url.searchParams.append('properties', name);
  url.searchParams.set('archived', String(page.archived ?? false));
  return url.href.length;
}
