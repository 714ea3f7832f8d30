import type { ObjState, StoredObject, HubSpotStore } from './store.ts';
import type { ObjectTypeDef } from './object-types.ts';
import { OBJECT_TYPES, associationLabel } from './object-types.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Properties HubSpot returns on every read, whatever was asked for. */
function basics(type: ObjectTypeDef): string[] {
  return ['hs_object_id', type.createdateProperty, type.lastModifiedProperty];
}

export function splitList(raw: unknown): string[] | null {
  if (raw === undefined || raw === null || raw === '') return null;
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
  return parts.length > 0 ? parts : null;
}

/**
 * The properties a read returns: the type's defaults when none are named, else the named ones (with the
 * id and timestamps), each with its value or null; names the type does not have are ignored, as HubSpot does.
 */
export function selectProperties(type: ObjectTypeDef, props: Readonly<Record<string, string>>, requested: string[] | null, known: (name: string) => boolean): Record<string, string | null> {
  const names = requested === null ? type.defaultProperties : [...new Set([...basics(type), ...requested.filter(known)])];
  const out: Record<string, string | null> = {};
  for (const n of [...names].sort()) out[n] = props[n] ?? null;
  return out;
}

export interface ReadOptions {
  properties: string[] | null;
  propertiesWithHistory?: string[] | null;
  associations?: string[] | null;
}

/** An object as CRM v3 JSON: id, properties, createdAt, updatedAt, archived (+ archivedAt, history, associations). */
export function toApiObject(store: HubSpotStore, portalId: number, obj: StoredObject, state: ObjState, opts: ReadOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: obj.id,
    properties: selectProperties(obj.type, state.properties, opts.properties, (name) => store.properties(portalId).has(obj.type, name)),
    createdAt: iso(state.createdAt),
    updatedAt: iso(state.updatedAt),
    archived: state.archived,
  };
  if (state.archivedAt !== null) out['archivedAt'] = iso(state.archivedAt);
  if (opts.propertiesWithHistory) {
    const h: Record<string, unknown[]> = {};
    for (const name of opts.propertiesWithHistory) {
      h[name] = [...(obj.history.get(name) ?? [])].reverse().map((v) => ({ ...v, timestamp: iso(v.timestamp) }));
    }
    out['propertiesWithHistory'] = h;
  }
  if (opts.associations) {
    const assoc: Record<string, unknown> = {};
    const all = store.associationsOf(portalId, obj.type, obj.id);
    for (const name of opts.associations) {
      const to = OBJECT_TYPES.find((t) => t.name === name || t.typeId === name || t.singular === name);
      if (!to) continue;
      const results = all.filter((a) => a.toType === to.name)
        .map((a) => ({ id: a.toId, type: associationLabel(obj.type, to).toLowerCase() }));
      if (results.length > 0) assoc[to.name] = { results };
    }
    out['associations'] = assoc;
  }
  return out;
}
