/**
 * One identity per object type: every part of hubsync keys a type the way `object-types.ts` does
 * (`contacts`; a custom object by its type id, `2-3465`). Custom objects' names belong to one
 * portal, so names, labels and association label words (`COMPANY_TO_PROJECT`) are resolved
 * through that portal's schemas (`GET /crm/v3/schemas`), read once and cached.
 */
import type { CallResult } from './outcome.ts';
import { CUSTOM_TYPE_ID, standardObjectType } from './object-types.ts';

/** What hubsync needs of a custom object's schema. */
export interface CustomObjectSchema {
  /** `2-3465`: hubsync's key for the type. */
  objectTypeId: string;
  /** `projects`; paths also take `p_projects`. */
  name: string;
  /** `p62515_projects`. */
  fullyQualifiedName: string;
  /** Labels, `Project` / `Projects`. */
  singular: string;
  plural: string;
}

/**
 * hubsync's key for a type named any way HubSpot names it: a type id (`0-1`, `2-3465`), a plural
 * or singular name (`contacts`, `contact`, any case), a custom object's name (`projects`,
 * `p_projects`, `p62515_projects`) or label (`Project`, `PROJECT` as in association labels).
 * A custom object's name wins over HubSpot's own type of the same name (a portal that made a
 * `project` object means it). Undefined when neither is known.
 */
export function matchObjectType(schemas: readonly CustomObjectSchema[], nameOrId: string): string | undefined {
  const wanted = normalise(nameOrId);
  if (CUSTOM_TYPE_ID.test(wanted)) return schemas.some((s) => s.objectTypeId === wanted) ? wanted : undefined;
  const bare = wanted.replace(/^p\d*_/, '');
  const custom = schemas.find((s) => [s.name, s.singular, s.plural].map(normalise).includes(bare) || normalise(s.fullyQualifiedName) === wanted);
  return custom?.objectTypeId ?? standardObjectType(wanted)?.name;
}

/** Lower case, spaces as underscores: `Line Item` → `line_item`. */
function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/\s+/g, '_');
}

export interface ObjectTypeResolver {
  /** The type's key in a portal (see `matchObjectType`), reading the portal's schemas when they are not loaded or do not know the name. */
  resolve(portalId: number, nameOrId: string): Promise<CallResult<string | undefined>>;
  /** The same from the schemas already loaded, without calling HubSpot; undefined when not known (yet). */
  known(portalId: number, nameOrId: string): string | undefined;
}

export interface ResolverOptions {
  /** Reads a portal's custom object schemas (the account's `customSchemas`). */
  load(portalId: number): Promise<CallResult<CustomObjectSchema[]>>;
  /** A name the loaded schemas do not know is looked up again at most this often (a type made since). Default 5 minutes. */
  refreshMs?: number;
  now?: () => number;
}

/** A resolver caching each portal's schemas. */
export function createObjectTypeResolver(options: ResolverOptions): ObjectTypeResolver {
  const refreshMs = options.refreshMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<number, { schemas: CustomObjectSchema[]; loadedAt: number }>();
  const loading = new Map<number, Promise<CallResult<CustomObjectSchema[]>>>();

  const load = async (portalId: number): Promise<CallResult<CustomObjectSchema[]>> => {
    let pending = loading.get(portalId);
    if (!pending) {
      pending = options.load(portalId).finally(() => loading.delete(portalId));
      loading.set(portalId, pending);
    }
    const result = await pending;
    if (result.ok) cache.set(portalId, { schemas: result.value, loadedAt: now() });
    return result;
  };

  const known = (portalId: number, nameOrId: string) => matchObjectType(cache.get(portalId)?.schemas ?? [], nameOrId);

  return {
    known,
    async resolve(portalId, nameOrId) {
      const cached = cache.get(portalId);
      if (cached) {
        const hit = known(portalId, nameOrId);
        if (hit !== undefined || now() - cached.loadedAt < refreshMs) return { ok: true, value: hit };
      }
      const loaded = await load(portalId);
      if (loaded.ok) return { ok: true, value: known(portalId, nameOrId) };
      // Without the schemas (a token lacking the custom-objects scope), HubSpot's own names still stand.
      const standard = matchObjectType([], nameOrId);
      return standard !== undefined ? { ok: true, value: standard } : loaded;
    },
  };
}
