/**
 * Associations through the v4 batch read (`POST /crm/v4/associations/{from}/{to}/batch/read`):
 * up to 100 objects a call, each answered with one page of its associations (HubSpot's 500) and
 * an `after` for the next; every page is read, so each object's set is complete, and becomes a
 * full-set observation for the mirror (an object with none is an empty set).
 */
import type { AssociationReadObservation, AssociationTypeSpec, Via } from '../mirror/observation.ts';
import type { CallStats } from './budget.ts';
import type { Priority } from './objects.ts';
import { toEpochMs } from './objects.ts';
import type { CallResult } from './outcome.ts';

/** HubSpot's batch size for these reads, as hubsync uses it. */
export const ASSOCIATION_BATCH = 100;

export interface AssociationPageInput {
  id: string;
  /** The `after` of the object's previous page. */
  after?: string;
}

export interface AssociatedObject {
  objectId: string;
  types: AssociationTypeSpec[];
}

export interface AssociationPage {
  /** When HubSpot started the read (epoch ms, its clock). */
  startedAt: number;
  results: { fromId: string; to: AssociatedObject[]; after?: string }[];
  /** Objects HubSpot lists no association for (`NO_ASSOCIATIONS_FOUND`, also for ids it does not know). */
  none: string[];
  /** Objects whose read failed otherwise. */
  failed: { id: string; message: string }[];
}

/** The SDK's answer (`BatchResponsePublicAssociationMultiWithLabel[WithErrors]`) as a page. */
export function toAssociationPage(data: unknown): AssociationPage {
  const d = data as {
    startedAt?: Date | string;
    results?: { _from?: { id?: unknown }; from?: { id?: unknown }; to?: { toObjectId?: unknown; associationTypes?: { category?: unknown; typeId?: unknown; label?: unknown }[] }[]; paging?: { next?: { after?: unknown } } }[];
    errors?: { category?: unknown; subCategory?: unknown; message?: unknown; context?: Record<string, unknown[]> }[];
  };
  const page: AssociationPage = { startedAt: toEpochMs(d.startedAt ?? ''), results: [], none: [], failed: [] };
  for (const r of d.results ?? []) {
    const after = r.paging?.next?.after;
    page.results.push({
      fromId: String((r._from ?? r.from)?.id ?? ''),
      to: (r.to ?? []).map((t) => ({
        objectId: String(t.toObjectId),
        types: (t.associationTypes ?? []).map((a) => ({ category: String(a.category ?? ''), typeId: Number(a.typeId), label: typeof a.label === 'string' ? a.label : null })),
      })),
      ...(typeof after === 'string' && after !== '' ? { after } : {}),
    });
  }
  for (const e of d.errors ?? []) {
    const ids = Object.values(e.context ?? {}).flat().map(String);
    const none = e.subCategory === 'crm.associations.NO_ASSOCIATIONS_FOUND' || e.category === 'OBJECT_NOT_FOUND';
    for (const id of ids) {
      if (none) page.none.push(id);
      else page.failed.push({ id, message: String(e.message ?? e.category ?? 'error') });
    }
  }
  return page;
}

/** What the reads need of an account (`HubSpotAccount` has it). */
export interface AssociationReader {
  readonly portalId: number;
  associationPage(fromType: string, toType: string, inputs: readonly AssociationPageInput[], priority: Priority, opts?: ReadOptions): Promise<CallResult<AssociationPage>>;
}

export interface ReadOptions {
  signal?: AbortSignal;
  stats?: CallStats;
}

/** Every object's full set of associations to one type, as of `readAt`. */
export interface AssociationSets {
  readAt: number;
  sets: Map<string, AssociatedObject[]>;
  failed: { id: string; message: string }[];
}

/**
 * Reads the associations of up to 100 objects to one type, every page of each. The read's time is
 * the first page's start (HubSpot's clock): anything the sets miss happened after it, or was gone by then.
 */
export async function readAssociations(
  account: Pick<AssociationReader, 'associationPage'>,
  fromType: string,
  toType: string,
  ids: readonly string[],
  priority: Priority,
  opts: ReadOptions = {},
): Promise<CallResult<AssociationSets>> {
  const sets = new Map<string, AssociatedObject[]>();
  const failed: { id: string; message: string }[] = [];
  let readAt = Number.NaN;
  let inputs: { id: string; after?: string }[] = ids.map((id) => ({ id }));
  while (inputs.length > 0) {
    const result = await account.associationPage(fromType, toType, inputs, priority, opts);
    if (!result.ok) return result;
    const page = result.value;
    if (Number.isNaN(readAt)) readAt = page.startedAt;
    const next: { id: string; after?: string }[] = [];
    for (const r of page.results) {
      const set = sets.get(r.fromId);
      if (set) set.push(...r.to);
      else sets.set(r.fromId, [...r.to]);
      if (r.after !== undefined) next.push({ id: r.fromId, after: r.after });
    }
    for (const id of page.none) if (!sets.has(id)) sets.set(id, []);
    failed.push(...page.failed);
    inputs = next;
  }
  return { ok: true, value: { readAt, sets, failed } };
}

/**
 * Reads each (object type → associated type) pair for a list of ids, 100 ids a call, and returns
 * the full-set observations. Calls for different pairs and chunks run side by side under the budget.
 */
export async function associationObservations(
  account: AssociationReader,
  objectType: string,
  toTypes: readonly string[],
  ids: readonly string[],
  priority: Priority,
  via: Via,
  seenAt: () => Date,
  opts: ReadOptions = {},
): Promise<CallResult<AssociationReadObservation[]>> {
  const unique = [...new Set(ids)];
  const calls: Promise<CallResult<AssociationReadObservation[]>>[] = [];
  for (const toType of toTypes) {
    for (let i = 0; i < unique.length; i += ASSOCIATION_BATCH) {
      const chunk = unique.slice(i, i + ASSOCIATION_BATCH);
      calls.push(readAssociations(account, objectType, toType, chunk, priority, opts).then((read): CallResult<AssociationReadObservation[]> => {
        if (!read.ok) return read;
        const at = seenAt();
        const version = Number.isFinite(read.value.readAt) ? read.value.readAt : at.getTime();
        return {
          ok: true,
          value: [...read.value.sets].map(([objectId, to]) => ({
            kind: 'associationRead', ref: { portalId: account.portalId, objectType, objectId }, version, via, seenAt: at, toObjectType: toType, to,
          })),
        };
      }));
    }
  }
  const results = await Promise.all(calls);
  const failure = results.find((r) => !r.ok);
  if (failure && !failure.ok) return failure;
  return { ok: true, value: results.flatMap((r) => (r.ok ? r.value : [])) };
}
