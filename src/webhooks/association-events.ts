/**
 * An association event as the mirror takes it, from either path (push webhooks, the journal). Pure.
 */
import type { AssociationObservation, ObjectRef, Observation } from '../mirror/observation.ts';

type Change = Omit<AssociationObservation, 'kind' | 'types'>;

/**
 * The edge's change, versioned by the event, and the object to read again after a primary
 * association's removal (`primary`): it may leave the pair associated (a contact whose primary
 * company moves keeps the former one, unlabeled) or remove it, so the object's associations are
 * read again, and the read, newer than the event, has the pair if it remains (where the job
 * mirrors that type's associations; elsewhere the removal stands).
 */
export function associationChange(change: Change, primary: boolean): { observations: Observation[]; hydrate: ObjectRef[] } {
  return { observations: [{ ...change, kind: 'association' }], hydrate: change.removed && primary ? [change.ref] : [] };
}
