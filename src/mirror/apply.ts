/**
 * Applies observations to the mirror inside the caller's transaction: lock the affected rows,
 * run the pure rules, write what changed. A batch of object observations costs three
 * statements however many observations and properties it carries; merges add a read of the rows
 * redirected to the ids they merge away and a savepoint around the lock (store.ts), and they and
 * association observations add the edges' own few (survivors of the ends named, a savepoint around
 * a lock and the survivors read again, a read, a write); merges and full reads of associations read
 * the edges twice (`applyEdges`).
 */
import type { Transaction } from 'kysely';
import { lockEdgeEnds, loadEdgeState, mergedIntoOf, writeEdges } from './edge-store.ts';
import { applyEdgeRule, edgeEnds, edgeNeeds, edgeReach, sideEnds, type EdgeNeeds, type EdgeState } from './edges.ts';
import { lockObjects, writeMirror } from './store.ts';
import { untilSettled } from '../db/savepoint.ts';
import type { Database } from '../db/schema.ts';
import { reduceSightings } from './ledger.ts';
import { objectKey, type ObjectRef, type Observation } from './observation.ts';
import type { MirrorObject } from './registers.ts';
import { affectedRefs, applyRule, finalSurvivor, isErased, mergedIds } from './rule.ts';

export interface ApplyResult {
  observations: number;
  /** Object rows created or changed. */
  objectsWritten: number;
  /** Association rows (sides) created or changed. */
  associationsWritten: number;
  /** Ledger rows created or given an earlier sighting. */
  ledgerChanges: number;
  /**
   * Objects of the batch whose values the mirror has erased (a privacy deletion or gone for good,
   * in this batch or before): the caller removes copies of their data it keeps elsewhere.
   */
  erased: ObjectRef[];
}

export interface ApplyOptions {
  /** Stamped into `updated_at`; defaults to the current time. */
  now?: Date;
}

/**
 * Applies a batch of observations (any mix of objects, paths and kinds) to the mirror and the
 * change ledger: insert placeholders for unseen objects, SELECT … FOR UPDATE the affected rows
 * together with the rows redirected to ids the batch merges away, then one statement writing
 * objects and ledger; then, when the batch carries associations or merges, the edges between the
 * final survivors (edges.ts).
 *
 * Safe under concurrency on Postgres at READ COMMITTED: rows are created and locked in one global
 * key order, so two transactions applying to the same objects serialise and both contributions
 * survive; batches changing the edges of the same objects take advisory locks on both ends of
 * every edge they write, in one order too. That ordering holds per call: a transaction that
 * applies several batches locks in batch order, and Postgres may abort one of two such
 * transactions with a deadlock error (40P01) to be retried.
 * Pass a transaction: `db.transaction().execute(trx => applyObservations(trx, batch))`.
 */
export async function applyObservations(
  trx: Transaction<Database>,
  observations: readonly Observation[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const now = options.now ?? new Date();
  const refs = affectedRefs(observations);
  const redirected = mergedIds(observations);
  const stored = await lockObjects(trx, refs, now, redirected);
  const result = applyRule(stored, observations);
  const written = await writeMirror(trx, { objects: result.objects, ledger: reduceSightings(result.ledger) }, now);
  const changed = new Map(result.objects.map((object) => [objectKey(object), object]));
  const current = (key: string): MirrorObject | undefined => changed.get(key) ?? stored.get(key);
  const erased = refs.filter((ref) => {
    const object = current(objectKey(ref));
    return object !== undefined && isErased(object);
  });
  // Only a redirect this batch changed moves edges: an id already pointing at its survivor has none left.
  const moved = redirected.filter((ref) => current(objectKey(ref))?.mergedInto !== stored.get(objectKey(ref))?.mergedInto);
  const associationsWritten = await applyEdges(trx, observations, moved, current, now);
  return { observations: observations.length, ...written, associationsWritten, erased };
}

/**
 * The association half of a batch: finds the final survivor of every id it names (the batch's
 * own objects as just written, the others as stored: redirects always name the final survivor),
 * serialises on the objects whose edges may change, loads what the rule needs, writes its result.
 *
 * Every side the batch writes (upsert or delete) has both its ends under the batch's advisory
 * locks, so two batches writing the same row wait for each other before either writes. Locking
 * only the ids named was not enough: merges and reads load sides by one end and write rows whose
 * other end they do not name, so "merge contact 103 into 104" and "merge company 202 into 203"
 * both rewrote the sides between 104 and 202, each under its own locks, and deadlocked on them (the
 * upserts go in key order, the deletes after them). So those batches read the sides first to learn
 * their reach (`edgeReach`), lock it with the ends named in one order, read again and, if the reach
 * grew in between (a writer holding a named end committed first), undo the locks to a savepoint
 * and take them again; once the named ends are ours the reach is stable. A batch of single edges
 * loads only sides between ends it names.
 *
 * The survivors of ids that are not the batch's own rows are read before the locks too, unlocked:
 * a merge of one of them committing while the batch waited for its locks left it writing edges and
 * watermarks keyed by the id merged away. So once the locks are granted the batch reads those
 * redirects again and, if one changed, undoes the locks to the savepoint and takes them for the
 * new survivors. Then they are stable: the ends locked are the ids' final survivors, and a merge
 * that moves an id (or re-points the ids redirected to it) holds that id's lock until it commits.
 * A batch of single edges pays the savepoint and that one read.
 */
async function applyEdges(
  trx: Transaction<Database>,
  observations: readonly Observation[],
  moved: readonly ObjectRef[],
  current: (key: string) => MirrorObject | undefined,
  now: Date,
): Promise<number> {
  if (moved.length === 0 && !observations.some((o) => o.kind === 'association' || o.kind === 'associationRead')) return 0;
  const elsewhere = new Map<string, string>();
  const known = new Map<string, ObjectRef>();
  const finalOf = (ref: ObjectRef): string => {
    const key = objectKey(ref);
    const object = current(key);
    if (object) return finalSurvivor(current, object);
    return elsewhere.get(key) ?? ref.objectId;
  };
  const learn = async (refs: readonly ObjectRef[]) => {
    const unknown = refs.filter((ref) => {
      const key = objectKey(ref);
      if (known.has(key) || current(key)) return false;
      known.set(key, ref);
      return true;
    });
    for (const [key, into] of await mergedIntoOf(trx, unknown)) elsewhere.set(key, into);
  };
  /** Reads again every redirect learned so far (`learn`): true when one changed, and learns the new ones. */
  const relearn = async (): Promise<boolean> => {
    if (known.size === 0) return false;
    const stored = await mergedIntoOf(trx, [...known.values()]);
    if ([...known.keys()].every((key) => stored.get(key) === elsewhere.get(key))) return false;
    elsewhere.clear();
    for (const [key, into] of stored) elsewhere.set(key, into);
    return true;
  };
  await learn(namedIds(observations));
  const load = async (needs: EdgeNeeds): Promise<EdgeState> => {
    const state = await loadEdgeState(trx, needs);
    // Stored sides may name ids merged away since (they move to the survivors).
    await learn([...state.edges.values()].flatMap(sideEnds));
    return state;
  };
  let needs = edgeNeeds(observations, moved, finalOf);
  const wide = needs.objects.length > 0 || needs.pairs.length > 0;
  let unlocked = wide ? await load(needs) : undefined;
  const state = await untilSettled(trx, 'hubsync_lock_edges', async () => {
    const locked = [...edgeEnds(needs), ...(unlocked ? edgeReach(unlocked, finalOf) : [])];
    await lockEdgeEnds(trx, locked);
    if (!(await relearn())) {
      const loaded = await load(needs);
      const held = new Set(locked.map(objectKey));
      if (!wide || edgeReach(loaded, finalOf).every((ref) => held.has(objectKey(ref)))) return loaded;
      unlocked = loaded;
    }
    needs = edgeNeeds(observations, moved, finalOf);
    return undefined;
  });
  return writeEdges(trx, applyEdgeRule(state, observations, finalOf), now);
}

/** Every id the batch's association observations name, at either end. */
function namedIds(observations: readonly Observation[]): ObjectRef[] {
  return observations.flatMap((obs): ObjectRef[] => {
    if (obs.kind === 'association') return [obs.ref, { portalId: obs.ref.portalId, objectType: obs.toObjectType, objectId: obs.toObjectId }];
    if (obs.kind === 'associationRead') return [obs.ref, ...obs.to.map((to) => ({ portalId: obs.ref.portalId, objectType: obs.toObjectType, objectId: to.objectId }))];
    return [];
  });
}
