/**
 * Pure CRM search semantics: request validation, filter matching, the single sort, paging and the 10,000 cap.
 * Callers pass the candidate objects already reduced to what the search index can see.
 */

export interface SearchFilter {
  propertyName: string;
  operator: string;
  value?: unknown;
  highValue?: unknown;
  values?: unknown[];
}

export interface SearchRequest {
  filterGroups: { filters: SearchFilter[] }[];
  sort: { propertyName: string; direction: 'ASCENDING' | 'DESCENDING' } | null;
  query: string | null;
  properties: string[] | null;
  limit: number;
  offset: number;
}

export interface SearchCandidate {
  id: string;
  properties: Readonly<Record<string, string>>;
}

/*
 * HubSpot's search guide (developers.hubspot.com/docs/api/crm/search; in the date-versioned reference,
 * /docs/api-reference/2026-03/crm/search-the-crm): "You can include a maximum of five filterGroups with up to 6
 * filters in each group, with a maximum of 18 filters in total. If you've included too many groups or filters,
 * you'll receive a VALIDATION_ERROR error response"; pages of at most 200; "limited to 10,000 total results for any
 * given query. Attempting to page beyond 10,000 will result in a 400 error".
 */
export const SEARCH_MAX_LIMIT = 200;
export const SEARCH_RESULT_CAP = 10_000;
export const MAX_FILTER_GROUPS = 5;
export const MAX_FILTERS_PER_GROUP = 6;
export const MAX_FILTERS_TOTAL = 18;

const OPERATORS = new Set([
  'EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE', 'BETWEEN', 'IN', 'NOT_IN',
  'HAS_PROPERTY', 'NOT_HAS_PROPERTY', 'CONTAINS_TOKEN', 'NOT_CONTAINS_TOKEN',
]);

export type ParseResult = { ok: true; request: SearchRequest } | { ok: false; message: string };

/** Validates a search body as HubSpot does; messages name the violated limit. */
export function parseSearchRequest(body: unknown): ParseResult {
  const b = (body ?? {}) as Record<string, unknown>;
  const groups = Array.isArray(b['filterGroups']) ? (b['filterGroups'] as { filters?: unknown }[]) : [];
  if (groups.length > MAX_FILTER_GROUPS) return { ok: false, message: `Too many filter groups: ${groups.length}. The maximum is ${MAX_FILTER_GROUPS}.` };
  let total = 0;
  const filterGroups: SearchRequest['filterGroups'] = [];
  for (const g of groups) {
    const filters = Array.isArray(g?.filters) ? (g.filters as SearchFilter[]) : [];
    if (filters.length > MAX_FILTERS_PER_GROUP) return { ok: false, message: `Too many filters in a group: ${filters.length}. The maximum is ${MAX_FILTERS_PER_GROUP}.` };
    total += filters.length;
    for (const f of filters) {
      if (typeof f?.propertyName !== 'string' || !OPERATORS.has(String(f.operator))) {
        return { ok: false, message: `Invalid filter: ${JSON.stringify(f)}` };
      }
    }
    filterGroups.push({ filters });
  }
  if (total > MAX_FILTERS_TOTAL) return { ok: false, message: `Too many filters: ${total}. The maximum is ${MAX_FILTERS_TOTAL}.` };

  const limit = b['limit'] === undefined ? 10 : Number(b['limit']);
  if (!Number.isInteger(limit) || limit < 0 || limit > SEARCH_MAX_LIMIT) {
    return { ok: false, message: `limit must be between 0 and ${SEARCH_MAX_LIMIT}, got ${String(b['limit'])}` };
  }
  const after = b['after'] === undefined || b['after'] === null || b['after'] === '' ? 0 : Number(b['after']);
  if (!Number.isInteger(after) || after < 0) return { ok: false, message: `Invalid after: ${String(b['after'])}` };

  const sorts = Array.isArray(b['sorts']) ? b['sorts'] : [];
  const sort = parseSort(sorts[0]);
  const props = Array.isArray(b['properties']) ? (b['properties'] as unknown[]).map(String) : null;
  const query = typeof b['query'] === 'string' && b['query'] !== '' ? b['query'] : null;
  return { ok: true, request: { filterGroups, sort, query, properties: props, limit, offset: after } };
}

function parseSort(raw: unknown): SearchRequest['sort'] {
  if (typeof raw === 'string') {
    // String form: "createdate" or "-createdate".
    return raw.startsWith('-') ? { propertyName: raw.slice(1), direction: 'DESCENDING' } : { propertyName: raw, direction: 'ASCENDING' };
  }
  if (raw && typeof raw === 'object' && typeof (raw as { propertyName?: unknown }).propertyName === 'string') {
    const r = raw as { propertyName: string; direction?: string };
    return { propertyName: r.propertyName, direction: r.direction === 'DESCENDING' ? 'DESCENDING' : 'ASCENDING' };
  }
  return null;
}

/** Numbers, epoch-ms strings and ISO timestamps compare as numbers; everything else as case-insensitive text. */
export function comparable(raw: unknown): number | string {
  const s = String(raw);
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}(T|$)/.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return t;
  }
  return s.toLowerCase();
}

export function compareValues(a: unknown, b: unknown): number {
  const x = comparable(a);
  const y = comparable(b);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  const xs = String(x);
  const ys = String(y);
  return xs < ys ? -1 : xs > ys ? 1 : 0;
}

export function matchesFilter(props: Readonly<Record<string, string>>, f: SearchFilter): boolean {
  const v = props[f.propertyName];
  const has = v !== undefined && v !== '';
  switch (f.operator) {
    case 'HAS_PROPERTY': return has;
    case 'NOT_HAS_PROPERTY': return !has;
    case 'NEQ': return !has || compareValues(v, f.value) !== 0;
    case 'NOT_IN': return !has || !(f.values ?? []).some((x) => compareValues(v, x) === 0);
    case 'NOT_CONTAINS_TOKEN': return !has || !containsToken(v, f.value);
  }
  if (!has) return false;
  switch (f.operator) {
    case 'EQ': return compareValues(v, f.value) === 0;
    case 'LT': return compareValues(v, f.value) < 0;
    case 'LTE': return compareValues(v, f.value) <= 0;
    case 'GT': return compareValues(v, f.value) > 0;
    case 'GTE': return compareValues(v, f.value) >= 0;
    case 'BETWEEN': return compareValues(v, f.value) >= 0 && compareValues(v, f.highValue) <= 0;
    case 'IN': return (f.values ?? []).some((x) => compareValues(v, x) === 0);
    case 'CONTAINS_TOKEN': return containsToken(v, f.value);
    default: return false;
  }
}

function containsToken(v: string, token: unknown): boolean {
  const t = String(token).toLowerCase();
  if (t.startsWith('*') || t.endsWith('*')) return v.toLowerCase().includes(t.replaceAll('*', ''));
  return v.toLowerCase().split(/[\s@.,;:_-]+/).includes(t);
}

/** OR of groups, AND within a group; no groups matches everything. */
export function matchesFilterGroups(props: Readonly<Record<string, string>>, groups: SearchRequest['filterGroups']): boolean {
  if (groups.length === 0) return true;
  return groups.some((g) => g.filters.every((f) => matchesFilter(props, f)));
}

export type SearchPage<T extends SearchCandidate> =
  | { ok: true; total: number; results: T[]; nextAfter: string | null }
  | { ok: false; message: string };

/**
 * Filters, sorts (one sort; ties and unsorted results by numeric id) and pages. Paging at or past the
 * 10,000-result cap is an error, as in HubSpot; `total` still counts every match.
 */
export function runSearch<T extends SearchCandidate>(candidates: Iterable<T>, req: SearchRequest, searchable: readonly string[] = []): SearchPage<T> {
  if (req.offset >= SEARCH_RESULT_CAP) {
    return { ok: false, message: `Paging past ${SEARCH_RESULT_CAP} results is not supported. Narrow the search with filters.` };
  }
  const q = req.query?.toLowerCase() ?? null;
  const hits: T[] = [];
  for (const c of candidates) {
    if (!matchesFilterGroups(c.properties, req.filterGroups)) continue;
    if (q !== null && !searchable.some((p) => c.properties[p]?.toLowerCase().includes(q))) continue;
    hits.push(c);
  }
  // Keys are computed once per hit: sorting 15,000 tied records must stay cheap.
  const keyed = hits.map((c) => ({ c, id: comparable(c.id), key: req.sort ? c.properties[req.sort.propertyName] : undefined }))
    .map((h) => ({ ...h, key: h.key === undefined ? undefined : comparable(h.key) }));
  const cmp = (x: number | string, y: number | string): number =>
    typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
  const dir = req.sort?.direction === 'DESCENDING' ? -1 : 1;
  keyed.sort((a, b) => {
    if (req.sort) {
      if (a.key === undefined || b.key === undefined) {
        if (a.key !== b.key) return a.key === undefined ? 1 : -1;
      } else {
        const d = dir * cmp(a.key, b.key);
        if (d !== 0) return d;
      }
    }
    return cmp(a.id, b.id);
  });
  const sorted = keyed.map((h) => h.c);
  const end = Math.min(req.offset + req.limit, hits.length, SEARCH_RESULT_CAP);
  const results = sorted.slice(req.offset, end);
  return { ok: true, total: hits.length, results, nextAfter: end < hits.length && req.limit > 0 ? String(end) : null };
}
