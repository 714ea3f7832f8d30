/**
 * The association rule: how a batch changes the edges between mirrored objects. Pure, no I/O.
 *
 * An edge is one fact for both of its ends, stored as two rows (one per side, as HubSpot's
 * webhooks and reads name them) that always carry the same register: (version, present > removed
 * on a tie), the newest version wins. What feeds it:
 * - a single edge's change (a webhook, a journal event): its version;
 * - a full read of an object's edges to one type (`associationRead`, version = the read's time):
 *   the edges it lists are present, every other edge of that object to that type is removed. The
 *   newest read per (object, type) is kept as a watermark, so an edge first heard of later (a late
 *   webhook, older than the read) is born removed: the read said it was not there.
 * - a merge: the ids merged away stand for their final survivor. Every edge is keyed by its ends'
 *   final survivors, so the loser's edges (and its reads' watermarks) move to the survivor,
 *   joined with the survivor's own; a read of the survivor after the merge settles what it has.
 * Each step is a join of registers, so the result does not depend on the order observations
 * arrive in, on duplicates, or on how they are cut into batches.
 *
 * The association types of a side (type ids, category, label) are a register of their own:
 * those of the newest read that listed the edge from that side.
 */
import { associationLabel } from '../hubspot/object-types.ts';
import { objectKey, type AssociationTypeSpec, type ObjectRef, type Observation } from './observation.ts';
import { cmp } from './registers.ts';

/** One side of an edge, as stored. */
export interface AssociationState {
  portalId: number;
  fromObjectType: string;
  fromObjectId: string;
  toObjectType: string;
  toObjectId: string;
  /** HubSpot's label for the pair from this side, `CONTACT_TO_COMPANY` (see `associationLabel`). */
  associationType: string;
  removed: boolean;
  version: number;
  /** The edge's association types from this side, from the newest read that listed it; null before any. */
  types: AssociationTypeSpec[] | null;
  typesVersion: number | null;
}

/** The newest full read of an object's edges to one type: its watermark. */
export interface AssociationRead {
  portalId: number;
  objectType: string;
  objectId: string;
  toObjectType: string;
  readAt: number;
}

/** What the rule needs of storage: the sides and watermarks a batch may change (see `edgeNeeds`). */
export interface EdgeState {
  edges: ReadonlyMap<string, AssociationState>;
  reads: ReadonlyMap<string, AssociationRead>;
}

/** The key columns of a side. */
export type SideKey = Pick<AssociationState, 'portalId' | 'fromObjectType' | 'fromObjectId' | 'toObjectType' | 'toObjectId'>;

export interface EdgeResult {
  /** Sides created or changed, in key order. */
  edges: AssociationState[];
  /** Both sides of edges keyed by an id merged away: deleted (their register lives on in the survivors' edge). */
  deleted: SideKey[];
  /** Watermarks created or raised, in key order. */
  reads: AssociationRead[];
  /** Watermarks of ids merged away: deleted (moved to the survivor). */
  deletedReads: AssociationRead[];
}

/** The final survivor of an id (itself unless merged away). */
export type FinalOf = (ref: ObjectRef) => string;

/** Stable map key of a side. */
export function associationKey(a: SideKey): string {
  return [a.portalId, a.fromObjectType, a.fromObjectId, a.toObjectType, a.toObjectId].join('\u0000');
}

/** Stable map key of a watermark. */
export function readKey(r: Pick<AssociationRead, 'portalId' | 'objectType' | 'objectId' | 'toObjectType'>): string {
  return [r.portalId, r.objectType, r.objectId, r.toObjectType].join('\u0000');
}

/** The edge register's order: newer version first, then present before removed. */
export function edgeWins(a: { version: number; removed: boolean }, b: { version: number; removed: boolean }): boolean {
  return a.version > b.version || (a.version === b.version && !a.removed && b.removed);
}

/**
 * What storage must hand the rule for a batch, given each id's final survivor: every side and
 * watermark of the `objects`; the sides and watermark of each (object, type) of `pairs`; the
 * exact `sides`; and the `watermarks` of more (object, type) pairs.
 */
export interface EdgeNeeds {
  objects: ObjectRef[];
  pairs: ReadPair[];
  sides: { from: ObjectRef; to: ObjectRef }[];
  watermarks: ReadPair[];
}

/** An object and one associated type. */
export type ReadPair = ObjectRef & { toObjectType: string };

/**
 * The sides and watermarks a batch may read or write: for each id merged away and its survivor,
 * all of theirs; for each read, its object's edges to the type read, and the watermarks of the
 * ids it lists; for each single edge, its two sides and the watermarks of both ends.
 */
export function edgeNeeds(observations: readonly Observation[], mergedAway: readonly ObjectRef[], finalOf: FinalOf): EdgeNeeds {
  const needs: EdgeNeeds = { objects: [], pairs: [], sides: [], watermarks: [] };
  for (const ref of mergedAway) needs.objects.push(ref, canonical(finalOf, ref));
  for (const obs of observations) {
    if (obs.kind === 'associationRead') {
      const from = canonical(finalOf, obs.ref);
      needs.pairs.push({ ...from, toObjectType: obs.toObjectType });
      for (const to of obs.to) needs.watermarks.push({ ...canonical(finalOf, { portalId: from.portalId, objectType: obs.toObjectType, objectId: to.objectId }), toObjectType: from.objectType });
    } else if (obs.kind === 'association') {
      const from = canonical(finalOf, obs.ref);
      const to = canonical(finalOf, { portalId: obs.ref.portalId, objectType: obs.toObjectType, objectId: obs.toObjectId });
      needs.sides.push({ from, to }, { from: to, to: from });
      needs.watermarks.push({ ...from, toObjectType: to.objectType }, { ...to, toObjectType: from.objectType });
    }
  }
  return needs;
}

/** Every object a batch with these needs names, whose edges it may change (to serialise on). */
export function edgeEnds(needs: EdgeNeeds): ObjectRef[] {
  const pick = (r: ObjectRef): ObjectRef => ({ portalId: r.portalId, objectType: r.objectType, objectId: r.objectId });
  return [...needs.objects, ...needs.pairs, ...needs.sides.map((s) => s.from), ...needs.watermarks].map(pick);
}

/**
 * The ends of the rows `applyEdgeRule` may write from `state` beyond those the batch names: both
 * ends of every stored side handed in (a merge's or a read's reach ids the batch does not name)
 * and their final survivors (a moved side's new ends); the same for the watermarks' objects.
 */
export function edgeReach(state: EdgeState, finalOf: FinalOf): ObjectRef[] {
  const ends = [...state.edges.values()].flatMap(sideEnds).concat([...state.reads.values()].map(readRef));
  return ends.flatMap((ref) => [ref, canonical(finalOf, ref)]);
}

/**
 * Applies a batch's association observations (and the merges its object rule found) to the stored
 * sides and watermarks it needs (`edgeNeeds`). `finalOf` must know every id named by the batch and
 * by the sides handed in. `state` is not modified.
 */
export function applyEdgeRule(state: EdgeState, observations: readonly Observation[], finalOf: FinalOf): EdgeResult {
  const work: Work = { state, finalOf, edges: new Map(), reads: new Map(), deleted: new Map(), deletedReads: new Map() };
  // Sides and watermarks keyed by an id merged away move to its survivor first.
  for (const read of state.reads.values()) {
    if (finalOf(readRef(read)) !== read.objectId) moveRead(work, read);
  }
  for (const side of state.edges.values()) {
    if (finalOf(fromRef(side)) !== side.fromObjectId || finalOf(toRef(side)) !== side.toObjectId) moveSide(work, side);
  }
  for (const obs of observations) {
    if (obs.kind === 'associationRead') {
      const from = canonical(work.finalOf, obs.ref);
      const listed = new Map<string, AssociationTypeSpec[]>();
      for (const to of obs.to) {
        const id = finalOf({ portalId: from.portalId, objectType: obs.toObjectType, objectId: to.objectId });
        if (id !== from.objectId || obs.toObjectType !== from.objectType) listed.set(id, [...(listed.get(id) ?? []), ...to.types]);
      }
      raiseWatermark(work, { ...pickRead(from, obs.toObjectType), readAt: obs.version }, listed);
      for (const [id, types] of listed) {
        contribute(work, from, { portalId: from.portalId, objectType: obs.toObjectType, objectId: id }, { version: obs.version, removed: false }, { version: obs.version, types: sortTypes(types) });
      }
    } else if (obs.kind === 'association') {
      const from = canonical(work.finalOf, obs.ref);
      const to = canonical(work.finalOf, { portalId: obs.ref.portalId, objectType: obs.toObjectType, objectId: obs.toObjectId });
      if (objectKey(from) === objectKey(to)) continue;
      contribute(work, from, to, { version: obs.version, removed: obs.removed }, obs.types ? { version: obs.version, types: sortTypes(obs.types) } : undefined);
    }
  }
  return {
    edges: [...work.edges.values()].filter((side) => !sameSide(state.edges.get(associationKey(side)), side)).sort(byKey(associationKey)),
    deleted: [...work.deleted.values()].sort(byKey(associationKey)),
    reads: [...work.reads.values()].filter((r) => state.reads.get(readKey(r))?.readAt !== r.readAt).sort(byKey(readKey)),
    deletedReads: [...work.deletedReads.values()].sort(byKey(readKey)),
  };
}

interface Work {
  readonly state: EdgeState;
  readonly finalOf: FinalOf;
  /** Sides as this batch leaves them (only those it touched). */
  readonly edges: Map<string, AssociationState>;
  readonly reads: Map<string, AssociationRead>;
  readonly deleted: Map<string, SideKey>;
  readonly deletedReads: Map<string, AssociationRead>;
}

type Register = { version: number; removed: boolean };
type TypesRegister = { version: number; types: AssociationTypeSpec[] };

/** `ref` as its final survivor. */
function canonical(finalOf: FinalOf, ref: ObjectRef): ObjectRef {
  return { portalId: ref.portalId, objectType: ref.objectType, objectId: finalOf(ref) };
}

function side(work: Work, key: string): AssociationState | undefined {
  return work.deleted.has(key) ? undefined : (work.edges.get(key) ?? work.state.edges.get(key));
}

function watermark(work: Work, key: string): AssociationRead | undefined {
  return work.deletedReads.has(key) ? undefined : (work.reads.get(key) ?? work.state.reads.get(key));
}

/**
 * Joins a register (and, for `from`'s side, association types) into the edge between two final
 * ids, writing both sides. An edge new to the mirror starts from the watermarks of its ends: a
 * read newer than this news that did not list it says it is removed.
 */
function contribute(work: Work, from: ObjectRef, to: ObjectRef, register: Register, types: TypesRegister | undefined): void {
  const forward = keyOf(from, to);
  const backward = keyOf(to, from);
  const there = [side(work, forward), side(work, backward)].filter((s) => s !== undefined);
  let current: Register | undefined = there.reduce<Register | undefined>((best, s) => (best === undefined || edgeWins(s, best) ? s : best), undefined);
  if (current === undefined) {
    const readAt = Math.max(
      watermark(work, readKey(pickRead(from, to.objectType)))?.readAt ?? -Infinity,
      watermark(work, readKey(pickRead(to, from.objectType)))?.readAt ?? -Infinity,
    );
    if (readAt > -Infinity) current = { version: readAt, removed: true };
  }
  const next = current === undefined || edgeWins(register, current) ? register : current;
  write(work, from, to, next, types);
  write(work, to, from, next, undefined);
}

function write(work: Work, from: ObjectRef, to: ObjectRef, register: Register, types: TypesRegister | undefined): void {
  const key = keyOf(from, to);
  const before = side(work, key);
  const keepTypes = before?.typesVersion !== null && before?.typesVersion !== undefined && (types === undefined || !typesWin(types, { version: before.typesVersion, types: before.types ?? [] }));
  work.edges.set(key, {
    portalId: from.portalId,
    fromObjectType: from.objectType,
    fromObjectId: from.objectId,
    toObjectType: to.objectType,
    toObjectId: to.objectId,
    associationType: associationLabel(from.objectType, to.objectType),
    removed: register.removed,
    version: register.version,
    types: keepTypes ? before!.types : (types?.types ?? null),
    typesVersion: keepTypes ? before!.typesVersion : (types?.version ?? null),
  });
}

/** The newer types win; on a tie, the larger list (by `typesText`), so either order gives the same. */
function typesWin(a: TypesRegister, b: TypesRegister): boolean {
  return a.version > b.version || (a.version === b.version && typesText(a.types) > typesText(b.types));
}

/** A list of association types as comparable text. */
function typesText(types: readonly AssociationTypeSpec[] | null): string {
  return types === null ? '' : types.map((t) => `${t.category}:${t.typeId}:${t.label ?? ''}`).join('|');
}

/**
 * Records a read as its object's watermark for the type, and applies it to the edges already
 * stored from that object to that type: those it did not list are removed at its version.
 */
function raiseWatermark(work: Work, read: AssociationRead, listed: ReadonlyMap<string, unknown>): void {
  const key = readKey(read);
  const before = watermark(work, key);
  if (!before || read.readAt > before.readAt) work.reads.set(key, read);
  const from = readRef(read);
  for (const s of sidesFrom(work, from, read.toObjectType)) {
    if (!listed.has(s.toObjectId)) contribute(work, from, toRef(s), { version: read.readAt, removed: true }, undefined);
  }
}

/** Moves a watermark of an id merged away to its survivor (the survivor's own edges answer to it). */
function moveRead(work: Work, read: AssociationRead): void {
  work.deletedReads.set(readKey(read), read);
  work.reads.delete(readKey(read));
  const survivor = canonical(work.finalOf, readRef(read));
  raiseWatermark(work, { ...pickRead(survivor, read.toObjectType), readAt: read.readAt }, new Map());
}

/**
 * Moves an edge keyed by an id merged away (both its sides) to the edge between the final
 * survivors: the register joins the survivors' edge, each side's types go to its side there.
 */
function moveSide(work: Work, s: AssociationState): void {
  if (work.deleted.has(associationKey(s))) return;
  const rawFrom = fromRef(s);
  const rawTo = toRef(s);
  const back = side(work, keyOf(rawTo, rawFrom));
  for (const [a, b] of [[rawFrom, rawTo], [rawTo, rawFrom]] as const) {
    const k = keyOf(a, b);
    work.deleted.set(k, { portalId: a.portalId, fromObjectType: a.objectType, fromObjectId: a.objectId, toObjectType: b.objectType, toObjectId: b.objectId });
    work.edges.delete(k);
  }
  const from = canonical(work.finalOf, rawFrom);
  const to = canonical(work.finalOf, rawTo);
  if (objectKey(from) === objectKey(to)) return;
  const register = back && edgeWins(back, s) ? back : s;
  const typesOf = (x: AssociationState | undefined) => (x && x.typesVersion !== null ? { version: x.typesVersion, types: x.types ?? [] } : undefined);
  contribute(work, from, to, { version: register.version, removed: register.removed }, typesOf(s));
  contribute(work, to, from, { version: register.version, removed: register.removed }, typesOf(back));
}

/** The sides from an object to a type, stored or written by this batch. */
function sidesFrom(work: Work, from: ObjectRef, toObjectType: string): AssociationState[] {
  const found = new Map<string, AssociationState>();
  for (const map of [work.state.edges, work.edges]) {
    for (const [key, s] of map) {
      if (s.portalId === from.portalId && s.fromObjectType === from.objectType && s.fromObjectId === from.objectId && s.toObjectType === toObjectType) {
        const current = side(work, key);
        if (current) found.set(key, current);
      }
    }
  }
  return [...found.values()];
}

function keyOf(from: ObjectRef, to: ObjectRef): string {
  return associationKey({ portalId: from.portalId, fromObjectType: from.objectType, fromObjectId: from.objectId, toObjectType: to.objectType, toObjectId: to.objectId });
}

/** The two ends of a stored side. */
export function sideEnds(s: AssociationState): [ObjectRef, ObjectRef] {
  return [fromRef(s), toRef(s)];
}

function fromRef(s: AssociationState): ObjectRef {
  return { portalId: s.portalId, objectType: s.fromObjectType, objectId: s.fromObjectId };
}

function toRef(s: AssociationState): ObjectRef {
  return { portalId: s.portalId, objectType: s.toObjectType, objectId: s.toObjectId };
}

function readRef(r: AssociationRead): ObjectRef {
  return { portalId: r.portalId, objectType: r.objectType, objectId: r.objectId };
}

function pickRead(ref: ObjectRef, toObjectType: string): Omit<AssociationRead, 'readAt'> {
  return { portalId: ref.portalId, objectType: ref.objectType, objectId: ref.objectId, toObjectType };
}

/** Association types in one order and shape (unique by category and id, by id), however they came. */
export function sortTypes(types: readonly AssociationTypeSpec[]): AssociationTypeSpec[] {
  const unique = new Map(types.map((t) => [`${t.category}\u0000${t.typeId}`, { category: t.category, typeId: t.typeId, label: t.label }]));
  return [...unique.values()].sort((a, b) => a.typeId - b.typeId || cmp(a.category, b.category));
}

function sameSide(a: AssociationState | undefined, b: AssociationState): boolean {
  return (
    a !== undefined &&
    a.removed === b.removed &&
    a.version === b.version &&
    a.associationType === b.associationType &&
    a.typesVersion === b.typesVersion &&
    typesText(a.types) === typesText(b.types)
  );
}

function byKey<T>(key: (value: T) => string): (a: T, b: T) => number {
  return (a, b) => cmp(key(a), key(b));
}
