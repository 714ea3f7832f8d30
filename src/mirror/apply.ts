/**
 * Applies observations to the mirror inside the caller's transaction: lock the affected rows,
 * run the pure rule, write what changed. A batch costs three statements however many
 * observations and properties it carries.
 */
import type { Transaction } from 'kysely';
import { lockObjects, writeMirror } from './store.ts';
import type { Database } from '../db/schema.ts';
import { reduceSightings } from './ledger.ts';
import { objectKey, type ObjectRef, type Observation } from './observation.ts';
import { affectedRefs, applyRule } from './rule.ts';

export interface ApplyResult {
  observations: number;
  /** Object rows created or changed. */
  objectsWritten: number;
  /** Association rows created or moved to a newer version. */
  associationsWritten: number;
  /** Ledger rows created or given an earlier sighting. */
  ledgerChanges: number;
  /**
   * Objects of the batch whose values the mirror has erased (a privacy deletion, in this batch
   * or before): the caller removes copies of their data it keeps elsewhere.
   */
  erased: ObjectRef[];
}

export interface ApplyOptions {
  /** Stamped into `updated_at`; defaults to the current time. */
  now?: Date;
}

/**
 * Applies a batch of observations (any mix of objects, paths and kinds) to the mirror and the
 * change ledger: insert placeholders for unseen objects, SELECT … FOR UPDATE the affected rows,
 * then one statement writing objects, ledger and associations.
 *
 * Safe under concurrency on Postgres at READ COMMITTED: rows are created and locked in one global
 * key order, so two transactions applying to the same objects serialise and both contributions
 * survive. That ordering holds per call: a transaction that applies several batches locks in
 * batch order, and Postgres may abort one of two such transactions with a deadlock error (40P01)
 * to be retried. Pass a transaction: `db.transaction().execute(trx => applyObservations(trx, batch))`.
 */
export async function applyObservations(
  trx: Transaction<Database>,
  observations: readonly Observation[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const now = options.now ?? new Date();
  const refs = affectedRefs(observations);
  const stored = await lockObjects(trx, refs, now);
  const result = applyRule(stored, observations);
  const written = await writeMirror(trx, { objects: result.objects, ledger: reduceSightings(result.ledger), associations: result.associations }, now);
  const changed = new Map(result.objects.map((object) => [objectKey(object), object]));
  const erased = refs.filter((ref) => {
    const key = objectKey(ref);
    return ((changed.get(key) ?? stored.get(key))?.privacyDeletedAt ?? null) !== null;
  });
  return { observations: observations.length, ...written, erased };
}
