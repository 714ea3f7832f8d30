import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** Signs Paragon User Tokens, reusing each user's token until shortly before it expires. */
export interface UserTokenSigner {
  token(userId: string, nowMs?: number): Promise<string>;
}

export interface UserTokenOptions {
  projectId: string;
  /** PEM (PKCS#8 or PKCS#1); `\n` escapes, as env vars often carry them, are accepted. */
  signingKey: string;
  ttlSeconds: number;
  /** Cap on cached tokens (one per user). */
  maxCached?: number;
}

/** The audience Paragon expects in a user token. */
export function paragonAudience(projectId: string): string {
  return `useparagon.com/${projectId}`;
}

/** Parses the project's signing key; throws a clear error for a malformed one (a config mistake). */
export function parseSigningKey(pem: string): KeyObject {
  const text = pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem;
  try {
    const key = createPrivateKey(text.trim());
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`an RSA key is needed for RS256, got ${key.asymmetricKeyType}`);
    return key;
  } catch (err) {
    throw new Error(`paragon.signingKey is not a usable RSA private key (PEM): ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Tokens are RS256 with `sub` = the user, `iat`, `exp` = iat + ttl and `aud` =
 * `useparagon.com/<projectId>`. A cached token is reused while more than a fifth of its life (at
 * most a minute) remains, so a request never leaves with a token about to expire in flight.
 */
export function createUserTokenSigner(o: UserTokenOptions): UserTokenSigner {
  const key = parseSigningKey(o.signingKey);
  const audience = paragonAudience(o.projectId);
  const margin = Math.min(60, Math.floor(o.ttlSeconds / 5));
  const max = o.maxCached ?? 10_000;
  const cache = new Map<string, { token: string; exp: number }>();
  return {
    async token(userId, nowMs = Date.now()) {
      const now = Math.floor(nowMs / 1000);
      const cached = cache.get(userId);
      if (cached && cached.exp - margin > now) return cached.token;
      const exp = now + o.ttlSeconds;
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .setSubject(userId)
        .setAudience(audience)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(key);
      cache.delete(userId);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(userId, { token, exp });
      return token;
    },
  };
}
