/** Shared setup for the outbox tests: a Paragon sandbox over real HTTP, keys, and a parsed config. */
import { pino } from 'pino';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import { generateSigningKeyPair, startParagonSandbox, type ParagonSandboxOptions, type RunningParagonSandbox, type SigningKeyPair } from '../../../src/sandbox/paragon/index.ts';

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let keys: SigningKeyPair | undefined;
/** One RSA pair per test process (generation takes a moment). */
export function testKeys(): SigningKeyPair {
  return (keys ??= generateSigningKeyPair());
}

export const PROJECT_ID = '5f0b1c1e-0000-4000-8000-00000000beef';

export async function startParagon(options: Partial<ParagonSandboxOptions> = {}): Promise<RunningParagonSandbox> {
  return startParagonSandbox({ projectId: PROJECT_ID, publicKeyPem: testKeys().publicKeyPem, ...options });
}

/** A full, validated config pointing at the sandbox, with fast retry timings. */
export function testConfig(baseUrl: string, overrides: { outbox?: Record<string, unknown>; paragon?: Record<string, unknown>; http?: Record<string, unknown> } = {}): Config {
  return configSchema.parse({
    paragon: {
      projectId: PROJECT_ID,
      // As an env var would carry it: newlines escaped.
      signingKey: testKeys().privateKeyPem.replace(/\n/g, '\\n'),
      baseUrl,
      actionKitUrl: `${baseUrl}/actionkit`,
      tokenTtlSeconds: 300,
      ...overrides.paragon,
    },
    outbox: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 200, requestTimeoutMs: 2000, batchSize: 20, concurrency: 4, ...overrides.outbox },
    http: overrides.http ?? {},
  });
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
