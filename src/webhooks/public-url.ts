/**
 * The public URL a sender called, for v2/v3 signatures. Behind a TLS-terminating proxy the process
 * sees `http://` and an internal host, so the scheme and host come from `http.publicUrl` when set,
 * else from `X-Forwarded-Proto`/`X-Forwarded-Host` when the proxy is trusted, else from the
 * request itself. The path and query are the raw request target, never re-encoded or re-ordered.
 */
import { header } from './hubspot-signature.ts';

export interface PublicUrlOptions {
  /** `https://hooks.example.com` or with a path prefix the proxy strips: `https://example.com/hubsync`. */
  publicUrl: string;
  trustProxy: boolean;
}

export interface RequestTarget {
  /** The raw request target, e.g. `/webhooks/hubspot?a=1&b=%20`. */
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** True when the socket itself is TLS. */
  encrypted: boolean;
}

/** The URI the sender most likely signed. */
export function publicUri(target: RequestTarget, options: PublicUrlOptions): string {
  if (options.publicUrl) return joinBase(options.publicUrl, target.url);
  if (options.trustProxy) {
    const proto = firstListValue(header(target.headers, 'x-forwarded-proto'));
    const host = firstListValue(header(target.headers, 'x-forwarded-host')) ?? header(target.headers, 'host');
    return `${proto ?? ownScheme(target)}://${host ?? 'localhost'}${target.url}`;
  }
  return `${ownScheme(target)}://${header(target.headers, 'host') ?? 'localhost'}${target.url}`;
}

/**
 * Other URIs the request might have been signed for, to tell an operator that the URL (not the
 * secret) is wrong: the other scheme, and the forwarded host/scheme when they are not trusted.
 */
export function alternativeUris(target: RequestTarget, options: PublicUrlOptions): string[] {
  const hosts = new Set<string>();
  for (const name of ['x-forwarded-host', 'host']) {
    const value = firstListValue(header(target.headers, name));
    if (value) hosts.add(value);
  }
  if (options.publicUrl) hosts.add(new URL(options.publicUrl).host);
  const out: string[] = [];
  for (const host of hosts) for (const scheme of ['https', 'http']) out.push(`${scheme}://${host}${target.url}`);
  return out;
}

function joinBase(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

function ownScheme(target: RequestTarget): string {
  return target.encrypted ? 'https' : 'http';
}

/** Proxies append to these lists; the first entry is what the client (HubSpot) used. */
function firstListValue(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim();
  return first ? first : undefined;
}
