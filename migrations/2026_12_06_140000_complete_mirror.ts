import { sql, type Kysely } from 'kysely';

/**
 * The complete mirror: records gone for good, one row per side of an association with its v4
 * types, and the watermarks of full association reads.
 *
 * - hubspot_objects.gone_at: when reads first showed the record neither live nor archived; its
 *   values are erased as for a privacy deletion.
 * - hubspot_associations: one row per side of an edge (the key loses association_type, which is
 *   now the label of the pair from that side, `CONTACT_TO_COMPANY`; where an edge had several rows
 *   the newest is kept, present winning a tie), with the association types (type id, category,
 *   label) from the newest read that listed it and that read's time.
 * - hubspot_association_reads: per object and associated type, the newest full read of its
 *   associations: an edge older than it that it did not list is removed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('hubspot_objects').addColumn('gone_at', 'timestamptz').execute();

  await sql`
    delete from hubspot_associations a using hubspot_associations b
    where a.portal_id = b.portal_id and a.from_object_type = b.from_object_type and a.from_object_id = b.from_object_id
      and a.to_object_type = b.to_object_type and a.to_object_id = b.to_object_id
      and (b.version, not b.removed, b.association_type) > (a.version, not a.removed, a.association_type)`.execute(db);
  await db.schema.alterTable('hubspot_associations').dropConstraint('hubspot_associations_pkey').execute();
  await db.schema
    .alterTable('hubspot_associations')
    .addPrimaryKeyConstraint('hubspot_associations_pkey', ['portal_id', 'from_object_type', 'from_object_id', 'to_object_type', 'to_object_id'])
    .execute();
  await db.schema.alterTable('hubspot_associations').addColumn('association_types', 'jsonb').execute();
  await db.schema.alterTable('hubspot_associations').addColumn('types_version', 'timestamptz').execute();

  await db.schema
    .createTable('hubspot_association_reads')
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('to_object_type', 'text', (c) => c.notNull())
    .addColumn('read_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('hubspot_association_reads_pkey', ['portal_id', 'object_type', 'object_id', 'to_object_type'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('hubspot_association_reads').ifExists().execute();
  await db.schema.alterTable('hubspot_associations').dropColumn('types_version').execute();
  await db.schema.alterTable('hubspot_associations').dropColumn('association_types').execute();
  await db.schema.alterTable('hubspot_associations').dropConstraint('hubspot_associations_pkey').execute();
  await db.schema
    .alterTable('hubspot_associations')
    .addPrimaryKeyConstraint('hubspot_associations_pkey', ['portal_id', 'from_object_type', 'from_object_id', 'to_object_type', 'to_object_id', 'association_type'])
    .execute();
  await db.schema.alterTable('hubspot_objects').dropColumn('gone_at').execute();
}
