import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';

export type TokenCheck = { ok: true; sub: string; iat: number | undefined; exp: number } | { ok: false; message: string };

/**
 * Verifies a Paragon User Token as Paragon does: RS256 with the project's public key, `sub`
 * present, not expired, and (current docs) `aud` = `useparagon.com/<projectId>`.
 */
export function createTokenVerifier(publicKeyPem: string, projectId: string, now: () => number): (authorization: string | undefined) => Promise<TokenCheck> {
  const key: KeyObject = createPublicKey(publicKeyPem);
  const audience = `useparagon.com/${projectId}`;
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) return { ok: false, message: 'Missing or malformed Authorization header' };
    try {
      const { payload } = await jwtVerify(match[1], key, {
        algorithms: ['RS256'],
        audience,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now()),
      });
      return { ok: true, sub: String(payload.sub), iat: payload.iat, exp: payload.exp as number };
    } catch (err) {
      return { ok: false, message: `Invalid user token: ${(err as Error).message}` };
    }
  };
}
