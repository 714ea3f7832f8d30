/**
 * Observations: everything hubsync learns about HubSpot, from any path, in one shape.
 *
 * Versions are HubSpot timestamps in epoch milliseconds: a webhook's `occurredAt`, a read's
 * last-modified or per-property timestamp. The mirror keeps, per property, the value with the
 * newest version, so the order in which observations arrive never matters.
 */

/**
 * Which path delivered an observation; recorded in the change ledger. The push side is `webhook`
 * (Webhooks API deliveries), `hydration` (reads they trigger), `workflow` and `paragon`; `journal`
 * is the Webhooks Journal (its events and the reads they trigger); `poll` is cursored polling.
 */
export type Via = 'webhook' | 'poll' | 'hydration' | 'workflow' | 'paragon' | 'journal';

export const VIAS: readonly Via[] = ['webhook', 'poll', 'hydration', 'workflow', 'paragon', 'journal'];

export interface ObjectRef {
  portalId: number;
  /** Plural CRM v3 name: contacts, companies, deals, tickets, or a custom object type id like 2-123. */
  objectType: string;
  objectId: string;
}

/** Stable map key of an object. */
export function objectKey(ref: ObjectRef): string {
  return `${ref.portalId}\u0000${ref.objectType}\u0000${ref.objectId}`;
}

interface Base {
  ref: ObjectRef;
  /** Epoch ms of the change in HubSpot. */
  version: number;
  via: Via;
  /** When hubsync saw it (receipt of the webhook, time of the read). */
  seenAt: Date;
}

/** A full or partial read of a live object (search, list, batch read, workflow post, Paragon payload). */
export interface SnapshotObservation extends Base {
  kind: 'snapshot';
  properties: Record<string, string | null>;
  /** Per-property timestamps when the read carried them; otherwise every property gets `version`. */
  propertyVersions?: Record<string, number>;
  /** `createdate` in epoch ms, when known. */
  createdAt?: number;
  /**
   * Ids merged into this object (`hs_merged_object_ids`). They are redirected here with
   * this snapshot's version.
   */
  mergedIds?: string[];
  /**
   * Set when the read returned an archived record (`archived=true` list, `archivedAt`): the
   * object was deleted at this epoch ms. Its properties still apply by their versions.
   */
  archivedAt?: number;
}

/** One property changed (Webhooks API `*.propertyChange`). */
export interface PropertyChangeObservation extends Base {
  kind: 'propertyChange';
  property: string;
  value: string | null;
}

/**
 * Lifecycle events: creation, deletion (archive), restore, privacy deletion (GDPR), and `gone`: a
 * record reads show neither live nor archived (hard-deleted, or privacy-deleted without the
 * event reaching us), whose values are erased as for a privacy deletion.
 */
export interface LifecycleObservation extends Base {
  kind: 'created' | 'deleted' | 'restored' | 'privacyDeleted' | 'gone';
}

/** `ref` is the surviving (possibly new) object; `mergedIds` now point at it, permanently. */
export interface MergeObservation extends Base {
  kind: 'merged';
  mergedIds: string[];
}

/** One association type of an edge, as the v4 API gives it. */
export interface AssociationTypeSpec {
  category: string;
  typeId: number;
  /** null for the unlabeled association. */
  label: string | null;
}

/**
 * One edge added or removed (a webhook's `associationChange`, a journal event): `ref` is one end,
 * `to*` the other. An edge is one fact for both ends; the label it is stored under is derived
 * from the two types (`CONTACT_TO_COMPANY`).
 */
export interface AssociationObservation extends Base {
  kind: 'association';
  toObjectType: string;
  toObjectId: string;
  removed: boolean;
  /** The edge's association types, when the source gives them (from `ref`'s side). */
  types?: AssociationTypeSpec[];
}

/**
 * A full read of `ref`'s associations to one type (v4 batch read, every page), at `version` (the
 * read's start by HubSpot's clock): every edge of that pair at that moment. Edges the mirror holds
 * that it does not list are removed, versioned by the read.
 */
export interface AssociationReadObservation extends Base {
  kind: 'associationRead';
  toObjectType: string;
  to: { objectId: string; types: AssociationTypeSpec[] }[];
}

export type Observation =
  | SnapshotObservation
  | PropertyChangeObservation
  | LifecycleObservation
  | MergeObservation
  | AssociationObservation
  | AssociationReadObservation;
