import { createPrivateKey, createPublicKey } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createUserTokenSigner, parseSigningKey } from '../../../src/paragon/token.ts';
import { generateSigningKeyPair } from '../../../src/sandbox/paragon/keys.ts';

const keys = generateSigningKeyPair();
const T0 = Date.parse('2026-11-22T10:00:00Z');

describe('user tokens', () => {
  it('signs RS256 tokens Paragon accepts: sub, iat, exp, aud', async () => {
    const signer = createUserTokenSigner({ projectId: 'proj-1', signingKey: keys.privateKeyPem, ttlSeconds: 600 });
    const token = await signer.token('user-42', T0);
    const { payload, protectedHeader } = await jwtVerify(token, createPublicKey(keys.publicKeyPem), {
      audience: 'useparagon.com/proj-1',
      currentDate: new Date(T0),
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toEqual({ sub: 'user-42', aud: 'useparagon.com/proj-1', iat: T0 / 1000, exp: T0 / 1000 + 600 });
  });

  it('accepts a PEM with \\n escapes, and PKCS#1 keys', async () => {
    expect(parseSigningKey(keys.privateKeyPem.replace(/\n/g, '\\n')).asymmetricKeyType).toBe('rsa');
    const pkcs1 = createPrivateKey(keys.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(parseSigningKey(pkcs1).asymmetricKeyType).toBe('rsa');
    expect(() => parseSigningKey('not a key')).toThrow(/paragon.signingKey is not a usable RSA private key/);
  });

  it('reuses a user token until a fifth of its life (at most a minute) remains; the clock going back is harmless', async () => {
    const signer = createUserTokenSigner({ projectId: 'p', signingKey: keys.privateKeyPem, ttlSeconds: 600 });
    const first = await signer.token('u', T0);
    expect(await signer.token('u', T0 + 539_000)).toBe(first);
    expect(await signer.token('u', T0 - 3_600_000)).toBe(first);
    const renewed = await signer.token('u', T0 + 541_000);
    expect(renewed).not.toBe(first);
    expect(await signer.token('other', T0)).not.toBe(first);
  });
});
