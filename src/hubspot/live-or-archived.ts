/**
 * Where a set of ids stands in HubSpot: a batch read, then a batch read of archived records for
 * the ids it lacks. Verification and the association sweep both judge records this way.
 */
import type { CallOptions, HubSpotAccount } from './client.ts';
import type { HubSpotObject, Priority } from './objects.ts';
import type { CallResult } from './outcome.ts';

export interface Standing {
  live: HubSpotObject[];
  /** Deleted, restorable: their `archivedAt` says when. */
  archived: HubSpotObject[];
  /** Ids neither read knows: purged, privacy-deleted, or merged away. */
  gone: string[];
}

/** A failed read, with which of the two it was. */
export type StandingResult = { ok: true; value: Standing } | (Exclude<CallResult<unknown>, { ok: true }> & { read: 'batch read' | 'archived batch read' });

export async function readLiveOrArchived(
  account: HubSpotAccount,
  objectType: string,
  ids: readonly string[],
  properties: readonly string[] | 'all',
  priority: Priority,
  opts: CallOptions,
): Promise<StandingResult> {
  const live = await account.batchRead(objectType, ids, properties, priority, opts);
  if (!live.ok) return { ...live, read: 'batch read' };
  if (live.value.missing.length === 0) return { ok: true, value: { live: live.value.results, archived: [], gone: [] } };
  const archived = await account.batchRead(objectType, live.value.missing, [], priority, { ...opts, archived: true });
  if (!archived.ok) return { ...archived, read: 'archived batch read' };
  return { ok: true, value: { live: live.value.results, archived: archived.value.results, gone: archived.value.missing } };
}
