import type { Clock } from './clock.ts';
import type { ChangeEvent, ChangeListener, ChangeSource } from './changes.ts';
import { AssociationSet, type Association } from './associations.ts';
import { associationLabel, resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import { DEFAULT_CUSTOM_PROPERTIES, PortalProperties, type CustomPropertyCounts } from './properties.ts';

export type { Association };

/** One immutable state of an object; each mutation makes a new one, so search can keep serving an older one. */
export interface ObjState {
  readonly properties: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly archived: boolean;
  readonly archivedAt: number | null;
}

export interface PropertyVersion {
  value: string;
  timestamp: number;
  sourceType: string;
  sourceId?: string;
}

export interface StoredObject {
  readonly id: string;
  readonly type: ObjectTypeDef;
  state: ObjState;
  mergedInto: string | null;
  privacyDeleted: boolean;
  /** Per property, newest last. */
  readonly history: Map<string, PropertyVersion[]>;
  /** What search sees: the newest version whose `visibleFrom` has passed; null state = absent from search. */
  readonly versions: { visibleFrom: number; state: ObjState | null }[];
}

export interface MutationOptions {
  /** HubSpot timestamp of the change (default: now). */
  at?: number;
  source?: ChangeSource;
  /** Do not notify listeners (bulk seeding). */
  silent?: boolean;
}

export type MutationResult = { ok: true; object: StoredObject } | { ok: false; status: 400 | 404; message: string };

const SYSTEM = new Set(['hs_object_id', 'createdate', 'hs_createdate', 'lastmodifieddate', 'hs_lastmodifieddate', 'hs_merged_object_ids']);
const iso = (ms: number): string => new Date(ms).toISOString();

class PortalData {
  readonly byType = new Map<string, Map<string, StoredObject>>();
  readonly associations = new AssociationSet();
  nextId = 1001;
  readonly properties: PortalProperties;
  constructor(properties: PortalProperties) {
    this.properties = properties;
  }
}

/** The sandbox's CRM: every portal's objects, associations, merge aliases and search-index versions. */
export class HubSpotStore {
  readonly #portals = new Map<number, PortalData>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #clock: Clock;
  /** Search-index lag in HubSpot ms (scaled when applied). */
  indexLagMs = 0;
  /** Associations per object in one page of a v4 batch read (HubSpot: 500). */
  associationPageSize = 500;
  readonly #customProperties: CustomPropertyCounts;

  /** `customProperties`: how many custom properties each type has (by name or id), beyond HubSpot's own. */
  constructor(clock: Clock, customProperties: CustomPropertyCounts = {}) {
    this.#clock = clock;
    this.#customProperties = customProperties;
  }

  /** The portal's property definitions (the properties API). */
  properties(portalId: number): PortalProperties {
    return this.#portal(portalId).properties;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** HubSpot's clock: the time stamped on changes and read responses. */
  now(): number {
    return this.#clock.now();
  }

  portalIds(): number[] {
    return [...this.#portals.keys()];
  }

  #portal(portalId: number): PortalData {
    let p = this.#portals.get(portalId);
    if (!p) {
      const counts = this.#customProperties;
      const custom = (type: ObjectTypeDef) => counts[type.name] ?? counts[type.typeId] ?? DEFAULT_CUSTOM_PROPERTIES[type.name] ?? 0;
      this.#portals.set(portalId, (p = new PortalData(new PortalProperties(custom, () => this.#clock.now()))));
    }
    return p;
  }

  #typeMap(portalId: number, type: ObjectTypeDef): Map<string, StoredObject> {
    const p = this.#portal(portalId);
    let m = p.byType.get(type.name);
    if (!m) p.byType.set(type.name, (m = new Map()));
    return m;
  }

  /** Objects of a type in id order, including archived ones and merged-away ids. */
  objects(portalId: number, type: ObjectTypeDef): IterableIterator<StoredObject> {
    return this.#typeMap(portalId, type).values();
  }

  /** Looks an id up, following merges to the surviving record. */
  get(portalId: number, type: ObjectTypeDef, id: string): StoredObject | undefined {
    let obj = this.#typeMap(portalId, type).get(id);
    for (let hops = 0; obj?.mergedInto && hops < 100; hops++) obj = this.#typeMap(portalId, type).get(obj.mergedInto);
    return obj && !obj.privacyDeleted ? obj : undefined;
  }

  /** The state search sees now (index lag applied); undefined when the object is not searchable. */
  searchState(obj: StoredObject, now = this.#clock.now()): ObjState | undefined {
    for (let i = obj.versions.length - 1; i >= 0; i--) {
      const v = obj.versions[i];
      if (v && v.visibleFrom <= now) return v.state && !v.state.archived ? v.state : undefined;
    }
    return undefined;
  }

  create(portalId: number, type: ObjectTypeDef, properties: Record<string, string | null>, opts: MutationOptions = {}): StoredObject {
    const p = this.#portal(portalId);
    p.properties.registerWritten(type, Object.keys(properties));
    const at = opts.at ?? this.#clock.now();
    const id = String(p.nextId++);
    const obj: StoredObject = {
      id, type, mergedInto: null, privacyDeleted: false, history: new Map(), versions: [],
      state: { properties: {}, createdAt: at, updatedAt: at, archived: false, archivedAt: null },
    };
    const changed = this.#write(obj, { ...properties, hs_object_id: id, [type.createdateProperty]: iso(at) }, at, opts.source, { createdAt: at });
    this.#typeMap(portalId, type).set(id, obj);
    this.#emit(opts, { portalId, objectType: type.name, objectId: id, kind: 'creation', at, properties: obj.state.properties, changedProperties: changed });
    return obj;
  }

  update(portalId: number, type: ObjectTypeDef, id: string, properties: Record<string, string | null>, opts: MutationOptions = {}): MutationResult {
    const obj = this.get(portalId, type, id);
    if (!obj || obj.state.archived) return { ok: false, status: 404, message: 'resource not found' };
    const at = opts.at ?? this.#clock.now();
    const input = Object.fromEntries(Object.entries(properties).filter(([k]) => !SYSTEM.has(k)));
    this.#portal(portalId).properties.registerWritten(type, Object.keys(input));
    // Writing the values a record already has is not a change: no new last-modified date, no event.
    if (Object.entries(input).every(([k, v]) => (obj.state.properties[k] ?? '') === (v ?? ''))) return { ok: true, object: obj };
    const changed = this.#write(obj, input, at, opts.source, {});
    this.#emit(opts, { portalId, objectType: type.name, objectId: obj.id, kind: 'propertyChange', at, properties: obj.state.properties, changedProperties: changed });
    return { ok: true, object: obj };
  }

  archive(portalId: number, type: ObjectTypeDef, id: string, opts: MutationOptions = {}): MutationResult {
    const obj = this.get(portalId, type, id);
    if (!obj || obj.state.archived) return { ok: false, status: 404, message: 'resource not found' };
    const at = opts.at ?? this.#clock.now();
    this.#setState(obj, { ...obj.state, archived: true, archivedAt: at });
    this.#emit(opts, { portalId, objectType: type.name, objectId: obj.id, kind: 'deletion', at, properties: obj.state.properties });
    return { ok: true, object: obj };
  }

  restore(portalId: number, type: ObjectTypeDef, id: string, opts: MutationOptions = {}): MutationResult {
    const obj = this.get(portalId, type, id);
    if (!obj || !obj.state.archived) return { ok: false, status: 404, message: 'resource not found' };
    const at = opts.at ?? this.#clock.now();
    this.#setState(obj, { ...obj.state, archived: false, archivedAt: null });
    this.#write(obj, {}, at, opts.source, {});
    this.#emit(opts, { portalId, objectType: type.name, objectId: obj.id, kind: 'restore', at, properties: obj.state.properties });
    return { ok: true, object: obj };
  }

  /** GDPR delete: the contact is gone for good (404 everywhere); listeners get privacyDeletion then deletion. */
  privacyDelete(portalId: number, type: ObjectTypeDef, id: string, opts: MutationOptions = {}): MutationResult {
    const obj = this.get(portalId, type, id);
    if (!obj || type.name !== 'contacts') return { ok: false, status: 404, message: 'resource not found' };
    const at = opts.at ?? this.#clock.now();
    obj.privacyDeleted = true;
    obj.history.clear();
    this.#setState(obj, { ...obj.state, properties: {}, archived: true, archivedAt: at }, true);
    for (const a of this.associationsOf(portalId, type, obj.id)) this.#portal(portalId).associations.remove(a);
    const base = { portalId, objectType: type.name, objectId: obj.id, at, properties: {} };
    this.#emit(opts, { ...base, kind: 'privacyDeletion' });
    this.#emit(opts, { ...base, kind: 'deletion' });
    return { ok: true, object: obj };
  }

  /** Merges into a NEW record; both old ids then resolve to it. */
  merge(portalId: number, type: ObjectTypeDef, primaryId: string, mergeId: string, opts: MutationOptions = {}): MutationResult {
    if (!type.mergeable) return { ok: false, status: 400, message: `Merging ${type.name} is not supported` };
    const primary = this.get(portalId, type, primaryId);
    const other = this.get(portalId, type, mergeId);
    if (!primary || !other || primary.state.archived || other.state.archived) return { ok: false, status: 404, message: 'resource not found' };
    if (primary.id === other.id) return { ok: false, status: 400, message: 'Cannot merge an object with itself' };
    const at = opts.at ?? this.#clock.now();
    const moved = Object.keys(other.state.properties).filter((k) => !SYSTEM.has(k) && !(k in primary.state.properties));
    const mergedIds = [primary, other].flatMap((o) => [...(o.state.properties['hs_merged_object_ids']?.split(';') ?? []), o.id]);
    const props: Record<string, string> = { ...other.state.properties, ...primary.state.properties, hs_merged_object_ids: mergedIds.join(';') };
    const created = this.create(portalId, type, props, { ...opts, silent: true, at });
    const createdAt = Math.min(primary.state.createdAt, other.state.createdAt);
    this.#write(created, { hs_object_id: created.id, [type.createdateProperty]: iso(createdAt) }, at, opts.source, { createdAt });
    for (const old of [primary, other]) {
      old.mergedInto = created.id;
      this.#setState(old, old.state, true);
      for (const a of this.associationsOf(portalId, type, old.id)) {
        this.#portal(portalId).associations.remove(a);
        this.#portal(portalId).associations.add({ ...a, fromId: created.id });
      }
    }
    this.#emit(opts, {
      portalId, objectType: type.name, objectId: created.id, kind: 'merge', at, properties: created.state.properties,
      merge: { primaryObjectId: primary.id, mergedObjectIds: [other.id], newObjectId: created.id, numberOfPropertiesMoved: moved.length },
    });
    return { ok: true, object: created };
  }

  associate(portalId: number, fromType: ObjectTypeDef, fromId: string, toType: ObjectTypeDef, toId: string, opts: MutationOptions = {}): MutationResult {
    return this.#association(portalId, fromType, fromId, toType, toId, false, opts);
  }

  dissociate(portalId: number, fromType: ObjectTypeDef, fromId: string, toType: ObjectTypeDef, toId: string, opts: MutationOptions = {}): MutationResult {
    return this.#association(portalId, fromType, fromId, toType, toId, true, opts);
  }

  /** Associations touching an object, seen from its side (`fromId` is the object). */
  associationsOf(portalId: number, type: ObjectTypeDef, id: string): Association[] {
    return this.#portal(portalId).associations.of(type.name, id);
  }

  allAssociations(portalId: number): Association[] {
    return this.#portal(portalId).associations.all();
  }

  #association(portalId: number, fromType: ObjectTypeDef, fromId: string, toType: ObjectTypeDef, toId: string, removed: boolean, opts: MutationOptions): MutationResult {
    const from = this.get(portalId, fromType, fromId);
    const to = this.get(portalId, toType, toId);
    if (!from || !to || from.state.archived || to.state.archived) return { ok: false, status: 404, message: 'resource not found' };
    const a: Association = { fromType: fromType.name, fromId: from.id, toType: toType.name, toId: to.id };
    const set = this.#portal(portalId).associations;
    if (set.has(a) === !removed) return { ok: true, object: from };
    const [contact, company] = fromType.name === 'contacts' && toType.name === 'companies' ? [from, to] : toType.name === 'contacts' && fromType.name === 'companies' ? [to, from] : [];
    const primaryBefore = contact && this.primaryCompanyOf(portalId, contact.type, contact.id);
    if (removed) set.remove(a);
    else set.add(a);
    const at = opts.at ?? this.#clock.now();
    this.#emitAssociation(portalId, from, to, removed, false, at, opts);
    // The primary label moves with the contact's primary company, as its own association events: a
    // company associated with a lower id takes it from the one before, which stays associated unlabeled.
    const primaryAfter = contact && this.primaryCompanyOf(portalId, contact.type, contact.id);
    if (contact && company && primaryBefore !== primaryAfter) {
      for (const [id, gone] of [[primaryBefore, true], [primaryAfter, false]] as const) {
        const primary = id === undefined ? undefined : this.get(portalId, company.type, id);
        if (primary) this.#emitAssociation(portalId, contact, primary, gone, true, at, opts);
      }
    }
    return { ok: true, object: from };
  }

  /** The association events of one pair, from each side. */
  #emitAssociation(portalId: number, a: StoredObject, b: StoredObject, removed: boolean, isPrimary: boolean, at: number, opts: MutationOptions): void {
    for (const [self, other] of [[a, b], [b, a]] as const) {
      this.#emit(opts, {
        portalId, objectType: self.type.name, objectId: self.id, kind: 'associationChange', at, properties: self.state.properties,
        association: { toObjectType: other.type.name, toObjectId: other.id, associationType: associationLabel(self.type, other.type), removed, isPrimary },
      });
    }
  }

  /** An object's live associated records of one type, in id order: deleted records' associations are not listed (they come back with a restore). */
  liveAssociationsOf(portalId: number, type: ObjectTypeDef, id: string, toType: ObjectTypeDef): Association[] {
    return this.associationsOf(portalId, type, id)
      .filter((a) => a.toType === toType.name && this.get(portalId, toType, a.toId)?.state.archived === false)
      .sort((a, b) => Number(a.toId) - Number(b.toId));
  }

  /** A contact's primary company: the first of its live associated companies (undefined for other types, or none). */
  primaryCompanyOf(portalId: number, type: ObjectTypeDef, id: string): string | undefined {
    const companies = resolveObjectType('companies');
    if (type.name !== 'contacts' || !companies) return undefined;
    return this.liveAssociationsOf(portalId, type, id, companies)[0]?.toId;
  }

  /** Applies property values (null/'' clears), keeps per-property history; returns what actually changed. */
  #write(obj: StoredObject, input: Record<string, string | null>, at: number, source: ChangeSource | undefined, extra: Partial<ObjState>): Record<string, string> {
    const props: Record<string, string> = { ...obj.state.properties };
    const changed: Record<string, string> = {};
    for (const [k, raw] of Object.entries(input)) {
      const value = raw ?? '';
      if ((props[k] ?? '') === value) continue;
      if (value === '') delete props[k];
      else props[k] = value;
      changed[k] = value;
      let h = obj.history.get(k);
      if (!h) obj.history.set(k, (h = []));
      h.push({ value, timestamp: at, sourceType: source?.changeSource ?? 'CRM_UI', ...(source?.sourceId ? { sourceId: source.sourceId } : {}) });
    }
    const lm = obj.type.lastModifiedProperty;
    props[lm] = iso(at);
    let lmHistory = obj.history.get(lm);
    if (!lmHistory) obj.history.set(lm, (lmHistory = []));
    lmHistory.push({ value: props[lm], timestamp: at, sourceType: 'CALCULATED' });
    this.#setState(obj, { ...obj.state, ...extra, properties: props, updatedAt: at });
    return changed;
  }

  #setState(obj: StoredObject, state: ObjState, unsearchable = false): void {
    obj.state = state;
    const lag = this.indexLagMs > 0 ? this.#clock.scale(this.indexLagMs) : 0;
    const now = this.#clock.now();
    obj.versions.push({ visibleFrom: now + lag, state: unsearchable ? null : state });
    // Keep only what search can still ask for: the newest version already visible, and anything newer.
    let firstVisible = -1;
    for (let i = obj.versions.length - 1; i >= 0; i--) if ((obj.versions[i]?.visibleFrom ?? Infinity) <= now) { firstVisible = i; break; }
    if (firstVisible > 0) obj.versions.splice(0, firstVisible);
  }

  #emit(opts: MutationOptions, change: Omit<ChangeEvent, 'source'>): void {
    if (opts.silent) return;
    const event: ChangeEvent = { ...change, source: opts.source ?? { changeSource: 'CRM' } };
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // A listener's bug must not break the CRM; listeners log their own failures.
      }
    }
  }
}
