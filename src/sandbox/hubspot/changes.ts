/** What a mutation of the sandbox's CRM looks like to listeners: webhook delivery, workflows and the Paragon half. */
export type ChangeKind =
  | 'creation'
  | 'propertyChange'
  | 'deletion'
  | 'restore'
  | 'merge'
  | 'privacyDeletion'
  | 'associationChange';

export interface ChangeSource {
  /** HubSpot's `changeSource`: CRM, API, IMPORT, ... */
  changeSource: string;
  sourceId?: string;
}

export interface MergeInfo {
  primaryObjectId: string;
  mergedObjectIds: string[];
  newObjectId: string;
  numberOfPropertiesMoved: number;
}

export interface AssociationInfo {
  toObjectType: string;
  toObjectId: string;
  /** Label from this side, e.g. CONTACT_TO_COMPANY. */
  associationType: string;
  removed: boolean;
  isPrimary: boolean;
}

export interface ChangeEvent {
  portalId: number;
  /** Path name, e.g. `contacts`. */
  objectType: string;
  objectId: string;
  kind: ChangeKind;
  /** Epoch ms, the change's HubSpot timestamp (becomes `occurredAt`). */
  at: number;
  /** The object's properties after the change (empty after a privacy deletion). */
  properties: Readonly<Record<string, string>>;
  /** Creation and property changes: the properties this change set ('' when cleared). */
  changedProperties?: Readonly<Record<string, string>>;
  source: ChangeSource;
  merge?: MergeInfo;
  association?: AssociationInfo;
}

export type ChangeListener = (change: ChangeEvent) => void;
