import { generateKeyPairSync } from 'node:crypto';

export interface SigningKeyPair {
  /** PKCS#8 PEM: what Paragon's dashboard hands out as the project's Signing Key (hubsync's `paragon.signingKey`). */
  privateKeyPem: string;
  /** SPKI PEM: what the sandbox verifies user tokens with. */
  publicKeyPem: string;
}

/** A fresh RSA key pair for tests and the demo (2048 bits, as Paragon's). */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}
