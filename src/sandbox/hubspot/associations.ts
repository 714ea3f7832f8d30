export interface Association {
  fromType: string;
  fromId: string;
  toType: string;
  toId: string;
}

const end = (type: string, id: string): string => `${type}:${id}`;

/** One portal's undirected associations, indexed by either end. */
export class AssociationSet {
  readonly #byKey = new Map<string, Association>();
  readonly #byEnd = new Map<string, Set<string>>();

  has(a: Association): boolean {
    return this.#byKey.has(keyOf(a));
  }

  add(a: Association): void {
    const key = keyOf(a);
    if (this.#byKey.has(key)) return;
    this.#byKey.set(key, normalise(a));
    for (const e of [end(a.fromType, a.fromId), end(a.toType, a.toId)]) {
      let s = this.#byEnd.get(e);
      if (!s) this.#byEnd.set(e, (s = new Set()));
      s.add(key);
    }
  }

  remove(a: Association): void {
    const key = keyOf(a);
    if (!this.#byKey.delete(key)) return;
    for (const e of [end(a.fromType, a.fromId), end(a.toType, a.toId)]) this.#byEnd.get(e)?.delete(key);
  }

  /** Associations of one object, seen from its side (`fromId` is the object). */
  of(type: string, id: string): Association[] {
    const out: Association[] = [];
    for (const key of this.#byEnd.get(end(type, id)) ?? []) {
      const a = this.#byKey.get(key);
      if (!a) continue;
      out.push(a.fromType === type && a.fromId === id ? { ...a } : { fromType: a.toType, fromId: a.toId, toType: a.fromType, toId: a.fromId });
    }
    return out;
  }

  all(): Association[] {
    return [...this.#byKey.values()];
  }
}

function normalise(a: Association): Association {
  return end(a.fromType, a.fromId) <= end(a.toType, a.toId) ? { ...a } : { fromType: a.toType, fromId: a.toId, toType: a.fromType, toId: a.fromId };
}

function keyOf(a: Association): string {
  const n = normalise(a);
  return `${end(n.fromType, n.fromId)}|${end(n.toType, n.toId)}`;
}
