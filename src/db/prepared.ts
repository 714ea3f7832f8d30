/**
 * Named prepared statements for the hot, fixed-text statements (the mirror's lock and write, the
 * webhook store). Postgres then parses and plans each of them once per connection instead of on
 * every batch, which is about a tenth of a mirror batch's time (the embedded database: see
 * PGliteDialect). Only statements that start with the `prepared` mark are named, so the set of
 * statements a connection keeps stays small and known.
 *
 * Behind PgBouncer in transaction pooling mode (before 1.21, or without
 * `max_prepared_statements`) a named statement may reach a server connection that never saw it;
 * turn them off there with `database.preparedStatements: false`.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';

const MARK = '/* prepared */';

/** Put first in a statement's text to have it prepared once per connection. */
export const prepared = sql.raw(MARK);

const names = new Map<string, string>();

/** The statement name for a marked text (stable per text), or undefined for any other statement. */
export function statementName(text: string): string | undefined {
  // The mark is the first fragment of the template, so the compiled text starts with it.
  if (!text.startsWith(MARK)) return undefined;
  let name = names.get(text);
  if (name === undefined) {
    name = `hubsync_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * A pg client that sends marked statements as named prepared statements (pg parses each name
 * once per connection and binds it after). Everything else passes through unchanged.
 */
export class PreparingClient extends pg.Client {
  // pg's `query` has a dozen overloads; this passes every call through to it, so its declared
  // result is `never`, which satisfies all of them; the pool hands the client out typed as its own.
  override query(...args: unknown[]): never {
    const [text, values] = args;
    const name = typeof text === 'string' && Array.isArray(values) ? statementName(text) : undefined;
    const query = super.query as (...rest: unknown[]) => never;
    return name === undefined ? query.apply(this, args) : query.call(this, { name, text, values }, ...args.slice(2));
  }
}
