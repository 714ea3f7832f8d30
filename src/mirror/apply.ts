/**
 * Applies observations to the mirror inside the caller's transaction: lock the affected rows,
 * run the pure rule, write what changed. A batch costs a fixed handful of statements however
 * many observations and properties it carries.
 */
import type { Transaction } from 'kysely';
import { recordChanges } from '../db/mirror-ledger.ts';
import { lockObjects, upsertAssociations, writeObjects } from '../db/mirror.ts';
import type { Database } from '../db/schema.ts';
import { reduceSightings } from './ledger.ts';
import type { Observation } from './observation.ts';
import { affectedRefs, applyRule } from './rule.ts';

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

/**
 * Applies a batch of observations (any mix of objects, paths and kinds) to the mirror and the
 * change ledger. Statements: placeholder insert, SELECT … FOR UPDATE, one UPDATE of changed rows,
 * one ledger upsert, one association upsert (each skipped when empty).
 *
 * Safe under concurrency on Postgres at READ COMMITTED: rows are locked in key order, so two
 * transactions applying to the same objects serialise and both contributions survive.
 * Pass a transaction (`db.transaction().execute(trx => applyObservations(trx, batch))`).
 */
export async function applyObservations(
  trx: Transaction<Database>,
  observations: readonly Observation[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const now = options.now ?? new Date();
  const stored = await lockObjects(trx, affectedRefs(observations), now);
  const result = applyRule(stored, observations);
  const objectsWritten = await writeObjects(trx, result.objects, now);
  const ledgerChanges = await recordChanges(trx, reduceSightings(result.ledger));
  const associationsWritten = await upsertAssociations(trx, result.associations, now);
  return { observations: observations.length, objectsWritten, associationsWritten, ledgerChanges };
}
