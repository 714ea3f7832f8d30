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
  /** No retry follows the last failed attempt (a 4xx other than 429, or three days passed). */
  gaveUp: boolean;
}

/** How HubSpot retries a workflow's webhook action (HubSpot ms, scaled by the sandbox clock). */
export interface WorkflowDeliveryOptions {
  /** How long the receiver has to answer: 30 s. */
  timeoutMs?: number;
  /** The first retry, a minute after the failure. */
  retryBaseMs?: number;
  /** Retries come at growing intervals, at most eight hours apart. */
  maxGapMs?: number;
  /** Nothing is retried past three days after the first attempt. */
  retryWindowMs?: number;
}

/**
 * HubSpot's published policy for workflow webhooks (developers.hubspot.com/docs/methods/workflows/webhook_information
 * and the knowledge base's "Use webhooks with HubSpot workflows"): retried for up to three days, starting one minute
 * after a failure, at growing intervals at most eight hours apart; never after a 4xx, except a 429, whose
 * `Retry-After` (in milliseconds) is honoured.
 */
export const WORKFLOW_DELIVERY: Required<WorkflowDeliveryOptions> = {
  timeoutMs: 30_000, retryBaseMs: 60_000, maxGapMs: 8 * 3_600_000, retryWindowMs: 3 * 86_400_000,
};

function workflowRetries(result: AttemptResult): boolean {
  return result.status === null || result.status === 429 || result.status >= 500;
}

/** Workflow "send a webhook" actions: one POST per enrolled record, body = its properties, signed v2 + v3, retried as HubSpot does. */
export class WorkflowWebhooks {
  readonly #workflows: WorkflowOptions[] = [];
  readonly #enrolled = new Set<string>();
  readonly #records: WorkflowPostRecord[] = [];
  readonly #sender: Sender;

  constructor(options: { clock: Clock; rng: Rng; workflows: readonly WorkflowOptions[]; delivery?: WorkflowDeliveryOptions }) {
    this.#workflows.push(...options.workflows);
    const policy = { ...WORKFLOW_DELIVERY, ...options.delivery };
    this.#sender = new Sender({
      clock: options.clock, rng: options.rng, concurrency: 10, timeoutMs: policy.timeoutMs,
      maxRetries: Number.POSITIVE_INFINITY, retryBaseMs: policy.retryBaseMs, maxGapMs: policy.maxGapMs,
      retryWindowMs: policy.retryWindowMs, retryable: workflowRetries, retryAfterUnitMs: 1,
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
      body, attempts: [], delivered: false, gaveUp: false,
    };
    this.#records.push(record);
    this.#sender.submit({
      url: w.targetUrl,
      build: () => ({ body, headers: signatureHeaders('v2', w.clientSecret, w.targetUrl, body, Date.now()) }),
      onAttempt: (r) => {
        record.attempts.push(r);
        if (r.ok) record.delivered = true;
        else if (r.final) record.gaveUp = true;
      },
    });
  }
}
