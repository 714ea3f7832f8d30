import type { HubSpotStore, StoredObject } from './store.ts';
import { OBJECT_TYPES, resolveObjectType, type ObjectTypeDef } from './object-types.ts';

export interface TruthObject {
  /** The sandbox's path name (`contacts`, `p_projects`). */
  objectType: string;
  /** HubSpot's object type id (`0-1`, `2-3465`). */
  objectTypeId: string;
  id: string;
  properties: Record<string, string>;
  /** Newest HubSpot timestamp per property (epoch ms). */
  propertyVersions: Record<string, number>;
  createdAt: number;
  updatedAt: number;
  archived: boolean;
  archivedAt: number | null;
  /**
   * Set on ids that were merged away: the FINAL surviving record, what a read of the old id returns
   * today (A merged into B, then B into C: A's is C).
   */
  mergedInto: string | null;
  privacyDeleted: boolean;
}

/** One association between two live records (either end may be the `from`), as reads show it. */
export interface TruthAssociation {
  fromType: string;
  fromTypeId: string;
  fromId: string;
  toType: string;
  toTypeId: string;
  toId: string;
}

export interface PortalTruth {
  portalId: number;
  objects: TruthObject[];
  /**
   * Associations between live records. Those of a deleted record are left out: HubSpot's reads
   * hide them until the record is restored. A merge moved the merged records' ones to the survivor;
   * a privacy deletion removed the person's.
   */
  associations: TruthAssociation[];
}

/** Everything the sandbox knows, in a stable order: what a perfect mirror would contain. */
export function truth(store: HubSpotStore, portalIds: readonly number[] = store.portalIds()): PortalTruth[] {
  return [...portalIds].sort((a, b) => a - b).map((portalId) => {
    const live = (type: ObjectTypeDef, id: string) => {
      const o = store.get(portalId, type, id);
      return o !== undefined && o.id === id && !o.state.archived;
    };
    return {
      portalId,
      objects: OBJECT_TYPES.flatMap((type) => {
        const byId = new Map([...store.objects(portalId, type)].map((o) => [o.id, o]));
        return [...byId.values()].map((o): TruthObject => ({
        objectType: type.name,
        objectTypeId: type.typeId,
        id: o.id,
        properties: { ...o.state.properties },
        propertyVersions: Object.fromEntries([...o.history].map(([k, h]) => [k, h[h.length - 1]?.timestamp ?? 0])),
        createdAt: o.state.createdAt,
        updatedAt: o.state.updatedAt,
        archived: o.state.archived,
        archivedAt: o.state.archivedAt,
        mergedInto: o.mergedInto === null ? null : finalSurvivor(byId, o),
        privacyDeleted: o.privacyDeleted,
        }));
      }),
      associations: store.allAssociations(portalId)
        .flatMap((a): TruthAssociation[] => {
          const from = resolveObjectType(a.fromType)!;
          const to = resolveObjectType(a.toType)!;
          if (!live(from, a.fromId) || !live(to, a.toId)) return [];
          return [{ fromType: a.fromType, fromTypeId: from.typeId, fromId: a.fromId, toType: a.toType, toTypeId: to.typeId, toId: a.toId }];
        })
        .sort((x, y) => `${x.fromType}:${x.fromId}:${x.toType}:${x.toId}`.localeCompare(`${y.fromType}:${y.fromId}:${y.toType}:${y.toId}`)),
    };
  });
}

/** The id a chain of merges ends at. */
function finalSurvivor(byId: ReadonlyMap<string, StoredObject>, merged: StoredObject): string {
  let current = merged;
  for (let hops = 0; current.mergedInto !== null && hops < 100; hops++) {
    const next = byId.get(current.mergedInto);
    if (!next) return current.mergedInto;
    current = next;
  }
  return current.id;
}
