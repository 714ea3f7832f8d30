import type { Config } from './schema.ts';

const SECRET_KEYS = new Set(['accessToken', 'clientSecret', 'signingKey', 'webhookSecret', 'token']);
export const MASK = '********';

/** A copy of the configuration that is safe to print: secret values masked, database password hidden. */
export function maskConfig(config: Config): unknown {
  return mask(config, '');
}

function mask(value: unknown, key: string): unknown {
  if (typeof value === 'string') {
    if (SECRET_KEYS.has(key)) return value ? MASK : '';
    if (key === 'url') return maskUrlPassword(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => mask(item, ''));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, k)]));
  }
  return value;
}

export function maskUrlPassword(text: string): string {
  try {
    const url = new URL(text);
    if (!url.password) return text;
    url.password = MASK;
    return url.toString();
  } catch {
    return text;
  }
}
