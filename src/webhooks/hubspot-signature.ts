/**
 * HubSpot request signatures (v1, v2, v3), checked on the raw request bytes. Pure: the secrets,
 * the public URI and the current time are parameters. A refusal is a value that names the check
 * that failed and its likely cause, for the log; the HTTP answer never carries it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface HubSpotApp {
  appId: number;
  clientSecret: string;
}

/** The request as the verifier needs it. Header names lower-cased, as Node gives them. */
export interface SignedRequest {
  method: string;
  /** The full public URL HubSpot called (scheme, host, path, query in original order). */
  uri: string;
  body: Buffer;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type SignatureVersion = 'v1' | 'v2' | 'v3';

export type SignatureCheck = 'missing' | 'malformed' | 'timestamp' | 'mismatch' | 'no-secret';

export type Verification =
  | { ok: true; version: SignatureVersion; appId: number }
  | { ok: false; version: SignatureVersion | null; check: SignatureCheck; cause: string };

/** The escapes HubSpot decodes in the URI before computing a v3 signature. */
const V3_DECODE: Readonly<Record<string, string>> = {
  '%3A': ':', '%2F': '/', '%3F': '?', '%40': '@', '%21': '!', '%24': '$',
  '%27': "'", '%28': '(', '%29': ')', '%2A': '*', '%2C': ',', '%3B': ';',
};
const V3_DECODE_PATTERN = /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi;

/** Decodes exactly the escapes of HubSpot's v3 table (either case); every other escape stays as sent. */
export function decodeV3Uri(uri: string): string {
  return uri.replace(V3_DECODE_PATTERN, (escape) => V3_DECODE[escape.toUpperCase()] ?? escape);
}

/** SHA-256 of `clientSecret + body` (v1; sent as hex). */
export function signatureV1(clientSecret: string, body: Buffer): Buffer {
  return createHash('sha256').update(clientSecret, 'utf8').update(body).digest();
}

/** SHA-256 of `clientSecret + method + uri + body` (v2; sent as hex). */
export function signatureV2(clientSecret: string, method: string, uri: string, body: Buffer): Buffer {
  return createHash('sha256').update(clientSecret + method + uri, 'utf8').update(body).digest();
}

/** HMAC-SHA256 of `method + decoded uri + body + timestamp`, keyed by the client secret (v3; sent as base64). */
export function signatureV3(clientSecret: string, method: string, uri: string, body: Buffer, timestamp: string): Buffer {
  return createHmac('sha256', clientSecret).update(method + decodeV3Uri(uri), 'utf8').update(body).update(timestamp, 'utf8').digest();
}

/** Constant-time equality of two digests; unequal lengths are simply unequal. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const HEX_256 = /^[0-9a-f]{64}$/i;
const BASE64_256 = /^[A-Za-z0-9+/]{43}=?$/;

export interface VerifyOptions {
  apps: readonly HubSpotApp[];
  /** Epoch ms now. */
  now: number;
  maxAgeMs: number;
  /** Other URIs the request may have been signed for (scheme or host swapped); asked only to diagnose a refusal. */
  alternativeUris?: () => readonly string[];
}

/**
 * Verifies a HubSpot request: v3 when its headers are present (and then only v3), else the version
 * `X-HubSpot-Signature-Version` names. Accepts a signature made with any configured app's secret.
 */
export function verifyHubSpot(request: SignedRequest, options: VerifyOptions): Verification {
  const apps = options.apps.filter((app) => app.clientSecret.length > 0);
  const v3 = header(request.headers, 'x-hubspot-signature-v3');
  const version: SignatureVersion | null = v3 !== undefined ? 'v3' : parseVersion(header(request.headers, 'x-hubspot-signature-version'));
  if (apps.length === 0) return refuse(version, 'no-secret', 'no hubspot.apps client secret is configured');
  if (v3 !== undefined) return verifyV3(request, v3, apps, options);
  const signature = header(request.headers, 'x-hubspot-signature');
  if (signature === undefined) return refuse(null, 'missing', 'no X-HubSpot-Signature(-v3) header: not a HubSpot request, or signing is off');
  if (version === null) return refuse(null, 'malformed', 'X-HubSpot-Signature-Version is missing or unknown');
  if (version === 'v3') return refuse('v3', 'missing', 'version v3 named but no X-HubSpot-Signature-v3 header');
  if (!HEX_256.test(signature)) return refuse(version, 'malformed', 'signature is not 64 hex digits');
  const given = Buffer.from(signature, 'hex');
  const compute = (secret: string, uri: string) =>
    version === 'v1' ? signatureV1(secret, request.body) : signatureV2(secret, request.method.toUpperCase(), uri, request.body);
  for (const app of apps) {
    if (digestsEqual(compute(app.clientSecret, request.uri), given)) return { ok: true, version, appId: app.appId };
  }
  return refuse(version, 'mismatch', mismatchCause(request, apps, options, (secret, uri) => digestsEqual(compute(secret, uri), given), version === 'v2'));
}

function verifyV3(request: SignedRequest, signature: string, apps: readonly HubSpotApp[], options: VerifyOptions): Verification {
  const timestamp = header(request.headers, 'x-hubspot-request-timestamp');
  if (timestamp === undefined) return refuse('v3', 'missing', 'X-HubSpot-Request-Timestamp is missing');
  if (!/^\d{1,16}$/.test(timestamp)) return refuse('v3', 'malformed', 'X-HubSpot-Request-Timestamp is not epoch milliseconds');
  const skew = options.now - Number(timestamp);
  if (Math.abs(skew) > options.maxAgeMs) {
    const seconds = Math.round(skew / 1000);
    return refuse(
      'v3',
      'timestamp',
      seconds > 0
        ? `timestamp is ${seconds}s old: a replayed or long-queued request, or this host's clock is ahead (check NTP)`
        : `timestamp is ${-seconds}s in the future: this host's clock is behind (check NTP)`,
    );
  }
  if (!BASE64_256.test(signature)) return refuse('v3', 'malformed', 'X-HubSpot-Signature-v3 is not a base64 SHA-256 MAC');
  const given = Buffer.from(signature, 'base64');
  const method = request.method.toUpperCase();
  const matches = (secret: string, uri: string) => digestsEqual(signatureV3(secret, method, uri, request.body, timestamp), given);
  for (const app of apps) if (matches(app.clientSecret, request.uri)) return { ok: true, version: 'v3', appId: app.appId };
  return refuse('v3', 'mismatch', mismatchCause(request, apps, options, matches, true));
}

/** Explains a mismatch by trying the usual suspects; only runs on the failure path. */
function mismatchCause(
  request: SignedRequest,
  apps: readonly HubSpotApp[],
  options: VerifyOptions,
  matches: (secret: string, uri: string) => boolean,
  uriSigned: boolean,
): string {
  const tokenLike = apps.filter((app) => /^pat-/i.test(app.clientSecret)).map((app) => app.appId);
  if (tokenLike.length > 0) {
    return `hubspot.apps client secret of app ${tokenLike.join(', ')} looks like a private-app access token (pat-…); signatures use the app's client secret`;
  }
  if (uriSigned) {
    for (const uri of options.alternativeUris?.() ?? []) {
      if (uri !== request.uri && apps.some((app) => matches(app.clientSecret, uri))) {
        return `signed for ${safeOrigin(uri)}, not ${safeOrigin(request.uri)}: set http.publicUrl (or http.trustProxy behind a TLS-terminating proxy)`;
      }
    }
  }
  if (request.body.some((byte) => byte >= 0x80) || request.body.includes('\\u')) {
    return 'body has non-ASCII or \\u-escaped text: it may have been re-encoded upstream; or the client secret is wrong';
  }
  return uriSigned
    ? `no configured client secret matches: wrong secret, or the URL (${safeOrigin(request.uri)}) or body changed in transit`
    : 'no configured client secret matches: wrong secret, or the body changed in transit';
}

function safeOrigin(uri: string): string {
  try {
    const url = new URL(uri);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(unparseable URL)';
  }
}

function parseVersion(value: string | undefined): SignatureVersion | null {
  const v = value?.trim().toLowerCase();
  return v === 'v1' || v === 'v2' || v === 'v3' ? v : null;
}

function refuse(version: SignatureVersion | null, check: SignatureCheck, cause: string): Verification {
  return { ok: false, version, check, cause };
}

/** One header's value; a repeated header counts as absent only if empty. */
export function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
