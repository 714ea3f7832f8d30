/**
 * Locks whose set is known only by reading, taken in one order: read, lock, read again; if the set
 * grew meanwhile, undo the locks and take the new set.
 */
import { sql, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Runs `attempt` under the savepoint `name` until it returns a result: `undefined` undoes what it
 * did (the row and advisory locks it took included) and runs it again. The savepoint is made once:
 * ROLLBACK TO keeps it for the next attempt, RELEASE ends it.
 */
export async function untilSettled<T>(trx: Transaction<Database>, name: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const savepoint = sql.id(name);
  await sql`savepoint ${savepoint}`.execute(trx);
  for (;;) {
    const result = await attempt();
    if (result !== undefined) {
      await sql`release savepoint ${savepoint}`.execute(trx);
      return result;
    }
    await sql`rollback to savepoint ${savepoint}`.execute(trx);
  }
}
