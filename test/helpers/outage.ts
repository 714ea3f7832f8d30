import type { Kysely, KyselyPlugin } from 'kysely';

/**
 * The same database behind a switch: while `down`, every statement fails as a lost server would
 * (ECONNREFUSED), and `statements` counts the attempts. For loops under a database outage.
 */
export function switchableDatabase<DB>(db: Kysely<DB>): { db: Kysely<DB>; down: boolean; statements: number } {
  const state = { db: db, down: true, statements: 0 };
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      state.statements++;
      if (state.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  state.db = db.withPlugin(plugin);
  return state;
}
