/**
 * Applies observations to the mirror inside the caller's transaction: lock the affected rows,
 * run the pure rule, write what changed. A batch costs two statements however many observations
 * and properties it carries (plus a retry pair when it loses an insert race for a new object).
 */
import type { Transaction } from 'kysely';
import { lockObjects, writeMirror } from '../db/mirror.ts';
import type { Database } from '../db/schema.ts';
import { reduceSightings } from './ledger.ts';
import type { Observation } from './observation.ts';
import { affectedRefs, applyRule, objectKey } from './rule.ts';

export interface ApplyResult {
  observations: number;
  /** Object rows created or changed. */
  objectsWritten: number;
  /** Association rows created or moved to a newer version. */
  associationsWritten: number;
  /** Ledger rows created or given an earlier sighting. */
  ledgerChanges: number;
}

export interface ApplyOptions {
  /** Stamped into `updated_at`; defaults to the current time. */
  now?: Date;
}

/** Insert races resolve in one retry (the winner has committed); more means something is wrong. */
const MAX_PASSES = 3;

/**
 * Applies a batch of observations (any mix of objects, paths and kinds) to the mirror and the
 * change ledger: one SELECT … FOR UPDATE of the affected rows, then one statement writing
 * objects, ledger and associations.
 *
 * Safe under concurrency on Postgres at READ COMMITTED: existing rows are locked in key order, so
 * two transactions applying to the same objects serialise and both contributions survive; when
 * both create the same new object, the loser's insert waits for the winner, reports the conflict,
 * and its observations for that object are applied again on top of the winner's row.
 * Pass a transaction (`db.transaction().execute(trx => applyObservations(trx, batch))`).
 */
export async function applyObservations(
  trx: Transaction<Database>,
  observations: readonly Observation[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const now = options.now ?? new Date();
  let stored = await lockObjects(trx, affectedRefs(observations));
  let result = applyRule(stored, observations);
  const first = await writeMirror(
    trx,
    { objects: result.objects, existing: new Set(stored.keys()), ledger: reduceSightings(result.ledger), associations: result.associations },
    now,
  );
  let objectsWritten = first.objectsWritten;
  let conflicted = first.conflicted;
  for (let pass = 2; conflicted.length > 0; pass++) {
    if (pass > MAX_PASSES) throw new Error(`mirror: ${conflicted.length} new objects still conflict after ${MAX_PASSES} passes`);
    // The ledger and associations are already written (they merge commutatively); redo only the
    // objects the losing inserts belong to, on top of the rows that won.
    const lost = new Set(conflicted.map(objectKey));
    const again = observations.filter((obs) => obs.kind !== 'association' && affectedRefs([obs]).some((ref) => lost.has(objectKey(ref))));
    stored = await lockObjects(trx, affectedRefs(again));
    result = applyRule(stored, again);
    const retry = await writeMirror(trx, { objects: result.objects, existing: new Set(stored.keys()), ledger: [], associations: [] }, now);
    objectsWritten += retry.objectsWritten;
    conflicted = retry.conflicted;
  }
  return { observations: observations.length, objectsWritten, associationsWritten: first.associationsWritten, ledgerChanges: first.ledgerChanges };
}
