import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';

export type TokenCheck = { ok: true; sub: string; iat: number | undefined; exp: number } | { ok: false; message: string };

/**
 * Verifies a Paragon User Token as Paragon does (docs.useparagon.com, "Setup the Paragon SDK":
 * "sub", "iat" and "exp" are required): RS256 with the project's public key, those three claims
 * present, not expired; an `aud`, which current docs also set, must name this project.
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
        requiredClaims: ['sub', 'iat', 'exp'],
        currentDate: new Date(now()),
      });
      const aud = payload.aud === undefined ? [] : [payload.aud].flat();
      if (aud.length > 0 && !aud.includes(audience)) return { ok: false, message: `Invalid user token: unexpected "aud" claim value` };
      return { ok: true, sub: String(payload.sub), iat: payload.iat, exp: payload.exp as number };
    } catch (err) {
      return { ok: false, message: `Invalid user token: ${(err as Error).message}` };
    }
  };
}
