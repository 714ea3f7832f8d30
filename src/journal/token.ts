/**
 * The journal's access token: HubSpot's client-credentials grant (`POST /oauth/v1/token`,
 * form-encoded `grant_type`, `client_id`, `client_secret`, `scope`). There is no refresh token:
 * a new token is requested shortly before `expires_in` runs out, or at once after a 401.
 */
type TokenResult = { ok: true; token: string } | { ok: false; error: string; status: number | null };

export interface TokenSource {
  token(): Promise<TokenResult>;
  /** Forgets `token` (a 401 said it no longer works); the next call asks for a new one. */
  invalidate(token: string): void;
}

export interface TokenOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  scopes: readonly string[];
  timeoutMs: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * A cached token, reused while more than a fifth of its life (at most a minute) remains; callers
 * arriving while one is being requested share that request.
 */
export function createTokenSource(o: TokenOptions): TokenSource {
  const now = o.now ?? Date.now;
  let cached: { token: string; refreshAt: number } | undefined;
  let pending: Promise<TokenResult> | undefined;

  const request = async (): Promise<TokenResult> => {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: o.clientId, client_secret: o.clientSecret, scope: o.scopes.join(' ') });
    let res: Response;
    let text: string;
    try {
      res = await (o.fetch ?? fetch)(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      return { ok: false, error: `token request failed: ${(err as Error).message}`, status: null };
    }
    const json = parse(text);
    const token = json?.access_token;
    const expiresIn = Number(json?.expires_in);
    if (!res.ok || typeof token !== 'string' || !Number.isFinite(expiresIn)) {
      // HubSpot names the problem in `status` (BAD_CLIENT_ID, BAD_SCOPES, …) and says more in `message`.
      const why = [json?.status, json?.message].filter((v) => typeof v === 'string').join(': ') || text.slice(0, 200);
      return { ok: false, error: `token request answered ${res.status}${why ? `: ${why}` : ''}`, status: res.status };
    }
    const margin = Math.min(60, expiresIn / 5) * 1000;
    cached = { token, refreshAt: now() + expiresIn * 1000 - margin };
    return { ok: true, token };
  };

  return {
    async token() {
      if (cached && cached.refreshAt > now()) return { ok: true, token: cached.token };
      pending ??= request().finally(() => (pending = undefined));
      return pending;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
  };
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
