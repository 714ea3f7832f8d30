import { OBJECT_TYPES, resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import { createRng, type Rng } from './random.ts';
import type { HubSpotStore, MutationOptions, StoredObject } from './store.ts';

export type StreamOpKind = 'create' | 'update' | 'delete' | 'restore' | 'merge' | 'privacyDelete' | 'associate' | 'dissociate';

/** One step of the stream, as applied. */
export interface StreamOp {
  seq: number;
  kind: StreamOpKind;
  objectType: string;
  objectId: string;
  at: number;
  properties?: Record<string, string>;
  otherId?: string;
  otherType?: string;
  /** Id created by a create or merge. */
  resultId?: string;
}

const FIRST = ['Ada', 'Grace', 'Linus', 'Zoë', 'Jürgen', 'Søren', 'Amélie', 'Kenji', 'Nadia', 'Omar', 'Priya', 'Wei'];
const LAST = ['Lovelace', 'Hopper', 'Müller', 'Østergaard', 'García', 'Tanaka', 'Okafor', 'Nguyen', 'Smith', 'Kowalski'];
const COMPANY = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wayne', 'Tyrell', 'Cyberdyne'];
const STAGES = ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'];
const DEAL_STAGES = ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'closedwon', 'closedlost'];
const WEIGHTS: readonly [StreamOpKind, number][] = [
  ['create', 28], ['update', 40], ['delete', 7], ['restore', 4], ['merge', 5], ['privacyDelete', 2], ['associate', 10], ['dissociate', 4],
];
const TYPE_WEIGHTS: readonly [string, number][] = [['contacts', 50], ['companies', 20], ['deals', 15], ['tickets', 10], ['p_projects', 5]];
/** The types the stream associates with one another. */
const ASSOCIATED_TYPES = OBJECT_TYPES.filter((t) => ['contacts', 'companies', 'deals', 'tickets'].includes(t.name));

function weighted<T>(rng: Rng, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let r = rng.next() * total;
  for (const [item, w] of items) if ((r -= w) < 0) return item;
  return (items[items.length - 1] as readonly [T, number])[0];
}

/** Realistic property values for a type; `full` for a create, otherwise one to three changed fields. */
export function propertiesFor(type: ObjectTypeDef, rng: Rng, full: boolean): Record<string, string> {
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  const company = rng.pick(COMPANY);
  const all: Record<string, () => string> = ({
    contacts: {
      firstname: () => first, lastname: () => last,
      email: () => `${first}.${last}.${rng.int(100_000)}@${company}.example`.normalize('NFD').replace(/[^\x20-\x7e]/g, '').toLowerCase(),
      phone: () => `+1 555 ${String(rng.int(10_000)).padStart(4, '0')}`, lifecyclestage: () => rng.pick(STAGES),
      company: () => company, city: () => rng.pick(['Berlin', 'København', 'São Paulo', 'Tokyo', 'Austin']),
    },
    companies: {
      name: () => `${company} ${rng.pick(['Inc', 'GmbH', 'Ltd', 'AB'])}`, domain: () => `${company.toLowerCase()}${rng.int(1000)}.example`,
      industry: () => rng.pick(['SOFTWARE', 'RETAIL', 'BANKING', 'LOGISTICS']), numberofemployees: () => String(1 + rng.int(5000)),
    },
    deals: {
      dealname: () => `${company} renewal ${rng.int(100)}`, amount: () => String(100 * (1 + rng.int(500))),
      dealstage: () => rng.pick(DEAL_STAGES), pipeline: () => 'default',
      closedate: () => new Date(Date.UTC(2026, rng.int(12), 1 + rng.int(28))).toISOString(),
    },
    tickets: {
      subject: () => `${rng.pick(['Login', 'Billing', 'Export', 'Sync'])} issue for ${company}`, content: () => `Reported by ${first} ${last}`,
      hs_pipeline: () => '0', hs_pipeline_stage: () => String(1 + rng.int(4)), hs_ticket_priority: () => rng.pick(['LOW', 'MEDIUM', 'HIGH']),
    },
    p_projects: {
      name: () => `Project ${rng.pick(['Apollo', 'Gemini', 'Ærø', 'Kōbe'])} ${rng.int(100)}`,
      status: () => rng.pick(['planned', 'active', 'done']), budget: () => String(1000 * (1 + rng.int(100))),
    },
  } as Record<string, Record<string, () => string>>)[type.name] ?? {};
  const names = Object.keys(all);
  const chosen = full ? names : [...new Set(Array.from({ length: 1 + rng.int(3) }, () => rng.pick(names)))];
  return Object.fromEntries(chosen.map((n) => [n, (all[n] as () => string)()]));
}

/**
 * A deterministic stream of realistic CRM changes: the same seed applied to the same starting store gives the same
 * operations, ids and final truth. Timestamps come from the caller, so they are deterministic when the caller's are.
 */
export class ChangeStream {
  readonly #rng: Rng;
  #seq = 0;

  constructor(seed: number) {
    this.#rng = createRng(seed);
  }

  /** Picks and applies one change at HubSpot time `at`. */
  next(store: HubSpotStore, portalId: number, at: number, source: MutationOptions['source'] = { changeSource: 'CRM', sourceId: 'userId:1' }): StreamOp {
    const rng = this.#rng;
    const type = resolveObjectType(weighted(rng, TYPE_WEIGHTS)) as ObjectTypeDef;
    const live = [...store.objects(portalId, type)].filter((o) => !o.mergedInto && !o.privacyDeleted);
    const active = live.filter((o) => !o.state.archived);
    const archived = live.filter((o) => o.state.archived);
    let kind = weighted(rng, WEIGHTS);
    if (active.length < 3) kind = 'create';
    if (kind === 'restore' && archived.length === 0) kind = 'update';
    if (kind === 'merge' && !type.mergeable) kind = 'update';
    if (kind === 'privacyDelete' && type.name !== 'contacts') kind = 'delete';
    const opts: MutationOptions = { at, source };
    const seq = ++this.#seq;
    const pickActive = (): StoredObject => rng.pick(active);
    // Merges and privacy deletions pick records with associations half the time: what they do to
    // edges (moved to the survivor, removed) is what a mirror most easily gets wrong.
    const pickLinked = (): StoredObject => {
      const linked = active.filter((o) => store.associationsOf(portalId, type, o.id).length > 0);
      return linked.length > 0 && rng.next() < 0.5 ? rng.pick(linked) : pickActive();
    };
    switch (kind) {
      case 'create': {
        const properties = propertiesFor(type, rng, true);
        const obj = store.create(portalId, type, properties, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, resultId: obj.id, at, properties };
      }
      case 'update': {
        const obj = pickActive();
        const properties = propertiesFor(type, rng, false);
        store.update(portalId, type, obj.id, properties, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, at, properties };
      }
      case 'delete': {
        const obj = pickActive();
        store.archive(portalId, type, obj.id, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, at };
      }
      case 'restore': {
        const obj = rng.pick(archived);
        store.restore(portalId, type, obj.id, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, at };
      }
      case 'privacyDelete': {
        const obj = pickLinked();
        store.privacyDelete(portalId, type, obj.id, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, at };
      }
      case 'merge': {
        const a = pickLinked();
        const others = active.filter((o) => o.id !== a.id);
        const b = rng.pick(others);
        const r = store.merge(portalId, type, a.id, b.id, opts);
        return { seq, kind, objectType: type.name, objectId: a.id, otherId: b.id, at, ...(r.ok ? { resultId: r.object.id } : {}) };
      }
      case 'associate':
      case 'dissociate': {
        const obj = pickActive();
        const toType = rng.pick(ASSOCIATED_TYPES.filter((t) => t.name !== type.name));
        const candidates = kind === 'associate'
          ? [...store.objects(portalId, toType)].filter((o) => !o.mergedInto && !o.privacyDeleted && !o.state.archived)
          : store.associationsOf(portalId, type, obj.id).filter((a) => a.toType === toType.name).map((a) => store.get(portalId, toType, a.toId)).filter((o) => o !== undefined);
        if (candidates.length === 0) return this.#fallbackUpdate(store, portalId, type, obj, seq, at, opts);
        const other = rng.pick(candidates);
        if (kind === 'associate') store.associate(portalId, type, obj.id, toType, other.id, opts);
        else store.dissociate(portalId, type, obj.id, toType, other.id, opts);
        return { seq, kind, objectType: type.name, objectId: obj.id, otherType: toType.name, otherId: other.id, at };
      }
    }
  }

  #fallbackUpdate(store: HubSpotStore, portalId: number, type: ObjectTypeDef, obj: StoredObject, seq: number, at: number, opts: MutationOptions): StreamOp {
    const properties = propertiesFor(type, this.#rng, false);
    store.update(portalId, type, obj.id, properties, opts);
    return { seq, kind: 'update', objectType: type.name, objectId: obj.id, at, properties };
  }
}
