/** SQL fragments shared by the mirror's query files. */
import { sql, type RawBuilder } from 'kysely';

/**
 * Epoch ms (bigint) to timestamptz, exactly. Sending numbers instead of ISO strings spares
 * formatting and parsing thousands of timestamps per batch.
 */
export function msToTimestamp(column: string): RawBuilder<Date | null> {
  return sql.raw(`('epoch'::timestamptz + ${column} * interval '1 millisecond')`);
}

/** timestamptz to epoch ms, for reads that feed the rule (numbers parse much faster than dates). */
export function timestampToMs(column: string): RawBuilder<number | null> {
  return sql.raw(`(extract(epoch from ${column}) * 1000)::int8`);
}
