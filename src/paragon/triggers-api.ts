/** A thin client of Paragon's ActionKit Triggers API (subscriptions), one user token per call. */
import { describeOutcome, requestJson, type Fetch } from './http.ts';

export interface WebhookOverride {
  url: string;
  headers?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

export interface TriggerSubscription {
  id: string;
  type: string;
  /** Filled in from the listing's grouping key. */
  integration: string;
  parameters: Record<string, unknown>;
  status: 'ACTIVE' | 'ERRORED' | string;
  credentialId?: string;
  error?: string;
  webhookOverride?: WebhookOverride;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; status: number | null; error: string };

export interface TriggersApi {
  list(token: string): Promise<ApiResult<TriggerSubscription[]>>;
  create(token: string, body: { integration: string; type: string; parameters: Record<string, unknown>; webhookOverride: WebhookOverride }, credentialId?: string): Promise<ApiResult<TriggerSubscription>>;
  update(token: string, id: string, body: { parameters?: Record<string, unknown | null>; webhookOverride?: WebhookOverride }): Promise<ApiResult<TriggerSubscription>>;
  remove(token: string, id: string): Promise<ApiResult<void>>;
  /** `POST /triggers/examples`: example records of what a trigger's events will carry. */
  examples(token: string, body: { integration: string; type: string; parameters: Record<string, unknown> }, credentialId?: string): Promise<ApiResult<Record<string, unknown>[]>>;
}

export function createTriggersApi(o: { actionKitUrl: string; projectId: string; timeoutMs: number; fetch?: Fetch }): TriggersApi {
  const project = `${o.actionKitUrl.replace(/\/+$/, '')}/projects/${encodeURIComponent(o.projectId)}`;
  const base = `${project}/trigger-subscriptions`;
  const call = async (method: string, url: string, token: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResult<unknown>> => {
    const outcome = await requestJson({ method, url, token, body, timeoutMs: o.timeoutMs, ...(headers ? { headers } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) });
    if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) return { ok: true, value: outcome.body };
    return { ok: false, status: outcome.kind === 'response' ? outcome.status : null, error: describeOutcome(outcome) };
  };
  return {
    async list(token) {
      const r = await call('GET', base, token);
      if (!r.ok) return r;
      const groups = ((r.value as { triggers?: Record<string, unknown[]> } | undefined)?.triggers ?? {}) as Record<string, TriggerSubscription[]>;
      return { ok: true, value: Object.entries(groups).flatMap(([integration, subs]) => subs.map((s) => ({ ...s, integration }))) };
    },
    async create(token, body, credentialId) {
      const r = await call('POST', base, token, body, credentialId ? { 'x-paragon-credential': credentialId } : undefined);
      return r.ok ? { ok: true, value: { ...(r.value as TriggerSubscription), integration: body.integration } } : r;
    },
    async update(token, id, body) {
      const r = await call('PATCH', `${base}/${encodeURIComponent(id)}`, token, body);
      return r.ok ? { ok: true, value: r.value as TriggerSubscription } : r;
    },
    async remove(token, id) {
      const r = await call('DELETE', `${base}/${encodeURIComponent(id)}`, token);
      return r.ok ? { ok: true, value: undefined } : r;
    },
    async examples(token, body, credentialId) {
      const r = await call('POST', `${project}/triggers/examples`, token, body, credentialId ? { 'x-paragon-credential': credentialId } : undefined);
      if (!r.ok) return r;
      // Documented as an array of records; a single record is taken as one.
      const records = Array.isArray(r.value) ? r.value : r.value && typeof r.value === 'object' ? [r.value] : [];
      return { ok: true, value: records.filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x)) };
    },
  };
}
