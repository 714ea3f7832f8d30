/**
 * The database as Kysely sees it: the table contract, one interface per table in
 * `src/db/<area>-tables.ts`, gathered here. The queries live with their features (`*-store.ts`).
 */
import type { JournalTables } from './journal-tables.ts';
import type { MirrorTables } from './mirror-tables.ts';
import type { OutboxTables } from './outbox-tables.ts';
import type { ProcessTables } from './process-tables.ts';
import type { SyncTables } from './sync-tables.ts';
import type { WebhookTables } from './webhook-tables.ts';

// Table groups are added here as their migrations land.
export interface Database extends MirrorTables, OutboxTables, SyncTables, WebhookTables, JournalTables, ProcessTables {}
