import { sql, type Kysely } from 'kysely';

/**
 * The mirror (hubspot_objects, hubspot_associations) and the change ledger.
 * Versions are HubSpot timestamps; `property_versions` holds them as epoch ms per property.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('hubspot_objects')
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('properties', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('property_versions', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // Derived: deleted, merged away or privacy-deleted. Kept as a column so operators can filter on it.
    .addColumn('archived', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('merged_into', 'text')
    .addColumn('merged_at', 'timestamptz')
    // The newest lifecycle fact (create/restore/live read vs. delete/archived read) and its version.
    .addColumn('lifecycle', 'text', (c) => c.check(sql`lifecycle in ('live', 'deleted')`))
    .addColumn('lifecycle_at', 'timestamptz')
    .addColumn('privacy_deleted_at', 'timestamptz')
    .addColumn('hs_created_at', 'timestamptz')
    .addColumn('hs_updated_at', 'timestamptz')
    .addColumn('first_seen_via', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('hubspot_objects_pkey', ['portal_id', 'object_type', 'object_id'])
    .execute();
  await db.schema
    .createIndex('hubspot_objects_hs_updated_at_idx')
    .on('hubspot_objects')
    .columns(['portal_id', 'object_type', 'hs_updated_at'])
    .execute();
  await db.schema
    .createIndex('hubspot_objects_merged_into_idx')
    .on('hubspot_objects')
    .columns(['portal_id', 'object_type', 'merged_into'])
    .where(sql.ref('merged_into'), 'is not', null)
    .execute();

  await db.schema
    .createTable('hubspot_associations')
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('from_object_type', 'text', (c) => c.notNull())
    .addColumn('from_object_id', 'text', (c) => c.notNull())
    .addColumn('to_object_type', 'text', (c) => c.notNull())
    .addColumn('to_object_id', 'text', (c) => c.notNull())
    .addColumn('association_type', 'text', (c) => c.notNull())
    .addColumn('removed', 'boolean', (c) => c.notNull())
    .addColumn('version', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('hubspot_associations_pkey', [
      'portal_id',
      'from_object_type',
      'from_object_id',
      'to_object_type',
      'to_object_id',
      'association_type',
    ])
    .execute();
  await db.schema
    .createIndex('hubspot_associations_to_idx')
    .on('hubspot_associations')
    .columns(['portal_id', 'to_object_type', 'to_object_id'])
    .execute();

  await db.schema
    .createTable('change_ledger')
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    // A property name, or an @-marker for lifecycle, merge and association changes.
    .addColumn('property', 'text', (c) => c.notNull())
    // The change's version (HubSpot timestamp).
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('first_seen_via', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull())
    .addColumn('seen_by_webhook_at', 'timestamptz')
    .addColumn('seen_by_poll_at', 'timestamptz')
    .addColumn('seen_by_hydration_at', 'timestamptz')
    .addColumn('seen_by_workflow_at', 'timestamptz')
    .addColumn('seen_by_paragon_at', 'timestamptz')
    .addPrimaryKeyConstraint('change_ledger_pkey', ['portal_id', 'object_type', 'object_id', 'property', 'occurred_at'])
    .execute();
  await db.schema
    .createIndex('change_ledger_occurred_at_idx')
    .on('change_ledger')
    .columns(['portal_id', 'object_type', 'occurred_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('change_ledger').ifExists().execute();
  await db.schema.dropTable('hubspot_associations').ifExists().execute();
  await db.schema.dropTable('hubspot_objects').ifExists().execute();
}
