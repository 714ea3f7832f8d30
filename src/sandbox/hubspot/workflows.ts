import type { ChangeEvent } from './changes.ts';
import type { Clock } from './clock.ts';
import { resolveObjectType } from './object-types.ts';
import type { Rng } from './random.ts';
import { matchesFilter, type SearchFilter } from './search.ts';
import { Sender, type AttemptResult } from './sender.ts';
import { signatureHeaders } from './signatures.ts';

export interface WorkflowOptions {
  workflowId: number;
  /** The app whose client secret signs the posts. */
  appId?: number;
  clientSecret: string;
  targetUrl: string;
  objectType: string;
  /** What enrolls a record: its creation, a change (of `propertyName` when set), or either. Default either. */
  trigger?: 'creation' | 'propertyChange' | 'any';
  propertyName?: string;
  /** All must hold on the record after the change (search filter semantics). */
  filters?: SearchFilter[];
  /** Enroll a record again on later matching changes. Default true. */
  reenroll?: boolean;
}

export interface WorkflowPostRecord {
  seq: number;
  workflowId: number;
  portalId: number;
  objectId: string;
  body: string;
  attempts: AttemptResult[];
  delivered: boolean;
}

/** Workflow "send a webhook" actions: one POST per enrolled record, body = its properties, signed v2 + v3. */
export class WorkflowWebhooks {
  readonly #workflows: WorkflowOptions[] = [];
  readonly #enrolled = new Set<string>();
  readonly #records: WorkflowPostRecord[] = [];
  readonly #sender: Sender;

  constructor(options: { clock: Clock; rng: Rng; workflows: readonly WorkflowOptions[]; timeoutMs?: number; maxRetries?: number; retryBaseMs?: number }) {
    this.#workflows.push(...options.workflows);
    this.#sender = new Sender({
      clock: options.clock, rng: options.rng, concurrency: 10, timeoutMs: options.timeoutMs ?? 5_000,
      maxRetries: options.maxRetries ?? 10, retryBaseMs: options.retryBaseMs ?? 60_000,
    });
  }

  add(workflow: WorkflowOptions): void {
    this.#workflows.push(workflow);
  }

  list(): readonly WorkflowOptions[] {
    return this.#workflows;
  }

  records(): readonly WorkflowPostRecord[] {
    return this.#records;
  }

  handle(change: ChangeEvent): void {
    if (change.kind !== 'creation' && change.kind !== 'propertyChange') return;
    for (const w of this.#workflows) {
      if (resolveObjectType(w.objectType)?.name !== change.objectType) continue;
      const trigger = w.trigger ?? 'any';
      if (trigger !== 'any' && trigger !== change.kind) continue;
      if (w.propertyName !== undefined && !(w.propertyName in (change.changedProperties ?? {}))) continue;
      if (!(w.filters ?? []).every((f) => matchesFilter(change.properties, f))) continue;
      const key = `${w.workflowId}:${change.portalId}:${change.objectId}`;
      if (w.reenroll === false && this.#enrolled.has(key)) continue;
      this.#enrolled.add(key);
      this.#post(w, change);
    }
  }

  idle(): Promise<void> {
    return this.#sender.idle();
  }

  stop(): Promise<void> {
    return this.#sender.stop();
  }

  #post(w: WorkflowOptions, change: ChangeEvent): void {
    const body = JSON.stringify({ ...change.properties, hs_object_id: change.objectId });
    const record: WorkflowPostRecord = {
      seq: this.#records.length + 1, workflowId: w.workflowId, portalId: change.portalId, objectId: change.objectId,
      body, attempts: [], delivered: false,
    };
    this.#records.push(record);
    this.#sender.submit({
      url: w.targetUrl,
      build: () => ({ body, headers: signatureHeaders('v2', w.clientSecret, w.targetUrl, body, Date.now()) }),
      onAttempt: (r) => {
        record.attempts.push(r);
        if (r.ok) record.delivered = true;
      },
    });
  }
}
