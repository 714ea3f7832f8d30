import type { Association, HubSpotStore } from './store.ts';
import { OBJECT_TYPES } from './object-types.ts';

export interface TruthObject {
  objectType: string;
  id: string;
  properties: Record<string, string>;
  /** Newest HubSpot timestamp per property (epoch ms). */
  propertyVersions: Record<string, number>;
  createdAt: number;
  updatedAt: number;
  archived: boolean;
  archivedAt: number | null;
  /** Set on ids that were merged away: the surviving record's id. */
  mergedInto: string | null;
  privacyDeleted: boolean;
}

export interface PortalTruth {
  portalId: number;
  objects: TruthObject[];
  associations: Association[];
}

/** Everything the sandbox knows, in a stable order: what a perfect mirror would contain. */
export function truth(store: HubSpotStore, portalIds: readonly number[] = store.portalIds()): PortalTruth[] {
  return [...portalIds].sort((a, b) => a - b).map((portalId) => ({
    portalId,
    objects: OBJECT_TYPES.flatMap((type) => [...store.objects(portalId, type)].map((o): TruthObject => ({
      objectType: type.name,
      id: o.id,
      properties: { ...o.state.properties },
      propertyVersions: Object.fromEntries([...o.history].map(([k, h]) => [k, h[h.length - 1]?.timestamp ?? 0])),
      createdAt: o.state.createdAt,
      updatedAt: o.state.updatedAt,
      archived: o.state.archived,
      archivedAt: o.state.archivedAt,
      mergedInto: o.mergedInto,
      privacyDeleted: o.privacyDeleted,
    }))),
    associations: store.allAssociations(portalId)
      .map((a) => ({ ...a }))
      .sort((x, y) => `${x.fromType}:${x.fromId}:${x.toType}:${x.toId}`.localeCompare(`${y.fromType}:${y.fromId}:${y.toType}:${y.toId}`)),
  }));
}
