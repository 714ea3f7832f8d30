import { createHash, createHmac } from 'node:crypto';

/**
 * HubSpot's request signatures, computed independently of the daemon's verifier so each checks the other.
 * Bodies are the exact strings sent; Node hashes them as UTF-8, as HubSpot hashes the bytes on the wire.
 */
export function signV1(clientSecret: string, body: string): string {
  return createHash('sha256').update(clientSecret + body, 'utf8').digest('hex');
}

export function signV2(clientSecret: string, method: string, uri: string, body: string): string {
  return createHash('sha256').update(clientSecret + method + uri + body, 'utf8').digest('hex');
}

/**
 * HubSpot decodes these escapes in the URI before it computes a v3 signature ("Validating requests",
 * developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests); every other escape stays.
 */
const V3_DECODED: readonly [string, string][] = [
  ['%3A', ':'], ['%2F', '/'], ['%3F', '?'], ['%40', '@'], ['%21', '!'], ['%24', '$'],
  ['%27', "'"], ['%28', '('], ['%29', ')'], ['%2A', '*'], ['%2C', ','], ['%3B', ';'],
];

/** The URI as HubSpot's v3 signature covers it. */
export function v3Uri(uri: string): string {
  let out = uri;
  for (const [escape, char] of V3_DECODED) out = out.replaceAll(escape, char).replaceAll(escape.toLowerCase(), char);
  return out;
}

export function signV3(clientSecret: string, method: string, uri: string, body: string, timestamp: number): string {
  return createHmac('sha256', clientSecret).update(method + v3Uri(uri) + body + String(timestamp), 'utf8').digest('base64');
}

/** Headers for a Webhooks-API batch (v1 + v3) or a workflow post (v2 + v3). */
export function signatureHeaders(version: 'v1' | 'v2', clientSecret: string, uri: string, body: string, timestamp: number): Record<string, string> {
  return {
    'X-HubSpot-Signature-Version': version,
    'X-HubSpot-Signature': version === 'v1' ? signV1(clientSecret, body) : signV2(clientSecret, 'POST', uri, body),
    'X-HubSpot-Signature-v3': signV3(clientSecret, 'POST', uri, body, timestamp),
    'X-HubSpot-Request-Timestamp': String(timestamp),
  };
}
