import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/** timestamptz: read as Date, written as Date or ISO text. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;

/** `hubspot_objects`: one row per (portal, object type, object id). A public contract. */
export interface HubspotObjectsTable {
  portal_id: number;
  object_type: string;
  object_id: string;
  properties: JSONColumnType<Record<string, string | null>>;
  /** Epoch ms per property. */
  property_versions: JSONColumnType<Record<string, number>>;
  archived: Generated<boolean>;
  merged_into: string | null;
  merged_at: NullableTimestamp;
  lifecycle: 'live' | 'deleted' | null;
  lifecycle_at: NullableTimestamp;
  privacy_deleted_at: NullableTimestamp;
  /** When reads first showed the record neither live nor archived (values erased). */
  gone_at: NullableTimestamp;
  hs_created_at: NullableTimestamp;
  hs_updated_at: NullableTimestamp;
  first_seen_via: string;
  first_seen_at: Timestamp;
  updated_at: Timestamp;
}

/** One association type of an edge, as the v4 API gives it. */
export interface AssociationTypeColumn {
  category: string;
  typeId: number;
  label: string | null;
}

/** `hubspot_associations`: one row per side of an edge (portal, from type/id, to type/id). */
export interface HubspotAssociationsTable {
  portal_id: number;
  from_object_type: string;
  from_object_id: string;
  to_object_type: string;
  to_object_id: string;
  /** The pair's label from this side, `CONTACT_TO_COMPANY`. */
  association_type: string;
  removed: boolean;
  version: Timestamp;
  /** The edge's association types from this side, from the newest read that listed it. */
  association_types: JSONColumnType<AssociationTypeColumn[] | null, string | null, string | null>;
  types_version: NullableTimestamp;
  updated_at: Timestamp;
}

/** `hubspot_association_reads`: the newest full read of an object's associations to one type. */
export interface HubspotAssociationReadsTable {
  portal_id: number;
  object_type: string;
  object_id: string;
  to_object_type: string;
  read_at: Timestamp;
  updated_at: Timestamp;
}

/** `change_ledger`: one row per observed change (object, property, version). */
export interface ChangeLedgerTable {
  portal_id: number;
  object_type: string;
  object_id: string;
  property: string;
  occurred_at: Timestamp;
  first_seen_via: string;
  first_seen_at: Timestamp;
  seen_by_webhook_at: NullableTimestamp;
  seen_by_poll_at: NullableTimestamp;
  seen_by_hydration_at: NullableTimestamp;
  seen_by_workflow_at: NullableTimestamp;
  seen_by_paragon_at: NullableTimestamp;
  seen_by_journal_at: NullableTimestamp;
}

/** The mirror's tables, for the `Database` interface. */
export interface MirrorTables {
  hubspot_objects: HubspotObjectsTable;
  hubspot_associations: HubspotAssociationsTable;
  hubspot_association_reads: HubspotAssociationReadsTable;
  change_ledger: ChangeLedgerTable;
}
