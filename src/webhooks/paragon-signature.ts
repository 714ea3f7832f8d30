/**
 * Paragon trigger-webhook signatures: `x-paragon-signature: v1=<HMAC-SHA256 of the raw body>`,
 * keyed by the project's webhook secret. Paragon does not document the encoding, so hex and
 * base64 (standard or URL-safe) of the same MAC are both accepted. Pure.
 */
import { createHmac } from 'node:crypto';
import { digestsEqual, type Verification } from './hubspot-signature.ts';

export type ParagonVerification =
  | { ok: true }
  | { ok: false; check: Exclude<Extract<Verification, { ok: false }>['check'], 'timestamp'>; cause: string };

/** The MAC Paragon sends, as bytes. */
export function paragonMac(secret: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

/** Decodes one `v1=` value as hex or base64; null when it is neither a 32-byte hex nor base64 string. */
export function decodeParagonSignature(value: string): Buffer | null {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value)) return Buffer.from(value, 'base64');
  if (/^[A-Za-z0-9_-]{43}=?$/.test(value)) return Buffer.from(value, 'base64url');
  return null;
}

/** Verifies `x-paragon-signature` (several `v1=` values, comma- or space-separated, any may match). */
export function verifyParagon(signatureHeader: string | undefined, body: Buffer, secret: string): ParagonVerification {
  if (!secret) return { ok: false, check: 'no-secret', cause: 'paragon.webhookSecret is not configured' };
  if (!signatureHeader) return { ok: false, check: 'missing', cause: 'no x-paragon-signature header' };
  const candidates = signatureHeader
    .split(/[,\s]+/)
    .filter((part) => part.startsWith('v1='))
    .map((part) => decodeParagonSignature(part.slice(3)))
    .filter((mac): mac is Buffer => mac !== null);
  if (candidates.length === 0) return { ok: false, check: 'malformed', cause: 'x-paragon-signature has no v1=<hex|base64 MAC> value' };
  const expected = paragonMac(secret, body);
  // Compare against every candidate so the time taken does not depend on which one matched.
  let matched = false;
  for (const mac of candidates) matched = digestsEqual(expected, mac) || matched;
  if (matched) return { ok: true };
  return {
    ok: false,
    check: 'mismatch',
    cause: body.some((byte) => byte >= 0x80)
      ? 'MAC differs: wrong paragon.webhookSecret, or the non-ASCII body was re-encoded upstream'
      : 'MAC differs: wrong paragon.webhookSecret (the project signing secret), or the body changed in transit',
  };
}
