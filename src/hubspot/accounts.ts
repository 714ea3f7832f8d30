import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { activePauses, savePause } from './pause-store.ts';
import { coerceError } from '../errors.ts';
import { createHubSpotAccounts, type AccountsDeps, type HubSpotAccounts } from './client.ts';

/**
 * `createHubSpotAccounts` whose daily-limit pauses outlive the process: pauses still in force are
 * restored at start, and each new daily pause is stored. This is what `hubsync run` should use.
 */
export async function openHubSpotAccounts(db: Kysely<Database>, config: Config['hubspot'], deps: Omit<AccountsDeps, 'restoredPauses' | 'onPause'>, now: Date = new Date()): Promise<HubSpotAccounts> {
  const pauses = await activePauses(db, now);
  for (const p of pauses) deps.log.warn({ portalId: p.portalId, policy: p.policy, pausedUntil: p.until.toISOString() }, `HubSpot API paused for portal ${p.portalId} until ${p.until.toISOString()} (${p.policy} limit reached earlier)`);
  return createHubSpotAccounts(config, {
    ...deps,
    restoredPauses: pauses,
    onPause: (portalId, pause) => {
      if (pause.policy !== 'DAILY') return;
      savePause(db, portalId, pause.policy, new Date(pause.untilMs), new Date()).catch((err: unknown) =>
        deps.log.warn({ err: coerceError(err), portalId }, 'could not store the daily-limit pause'),
      );
    },
  });
}
