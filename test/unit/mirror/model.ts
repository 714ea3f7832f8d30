import { applyEdgeRule, associationKey, readKey, type AssociationRead, type AssociationState } from '../../../src/mirror/edges.ts';
import { mergeSighting, reduceSightings, type LedgerChange } from '../../../src/mirror/ledger.ts';
import { objectKey, type ObjectRef, type Observation, type Via } from '../../../src/mirror/observation.ts';
import type { MirrorObject } from '../../../src/mirror/registers.ts';
import { applyRule, finalSurvivor } from '../../../src/mirror/rule.ts';

/** The whole mirror in memory: what `applyObservations` keeps in its tables. */
export interface Model {
  objects: Map<string, MirrorObject>;
  edges: Map<string, AssociationState>;
  reads: Map<string, AssociationRead>;
  ledger: Map<string, LedgerChange>;
}

export function emptyModel(): Model {
  return { objects: new Map(), edges: new Map(), reads: new Map(), ledger: new Map() };
}

/** The final survivor of an id in the model. */
export function finalOf(model: Model, ref: ObjectRef): string {
  return finalSurvivor((key) => model.objects.get(key), { ...ref, mergedInto: model.objects.get(objectKey(ref))?.mergedInto ?? null });
}

/** Applies one batch the way `applyObservations` does: the object rule, then the edge rule with the new survivors. */
export function applyBatch(model: Model, batch: readonly Observation[]): void {
  const result = applyRule(model.objects, batch);
  for (const object of result.objects) model.objects.set(objectKey(object), object);
  const edges = applyEdgeRule({ edges: model.edges, reads: model.reads }, batch, (ref) => finalOf(model, ref));
  for (const key of edges.deleted) model.edges.delete(associationKey(key));
  for (const side of edges.edges) model.edges.set(associationKey(side), side);
  for (const read of edges.deletedReads) model.reads.delete(readKey(read));
  for (const read of edges.reads) model.reads.set(readKey(read), read);
  for (const change of reduceSightings(result.ledger)) {
    const key = `${objectKey(change)}\u0000${change.property}\u0000${change.version}`;
    const stored = model.ledger.get(key);
    // A confirming read adds to a known change but never creates one.
    if (!stored) {
      if (!change.confirmOnly) model.ledger.set(key, structuredClone(change));
    } else for (const [via, at] of Object.entries(change.seenAt)) mergeSighting(stored, via as Via, at);
  }
}

export function applyBatches(batches: readonly (readonly Observation[])[], model = emptyModel()): Model {
  for (const batch of batches) applyBatch(model, batch);
  return model;
}

export const inOrder = (history: readonly Observation[]): Model => applyBatches(history.map((obs) => [obs]));

export const sorted = <T>(map: Map<string, T>): [string, T][] => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
