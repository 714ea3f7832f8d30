import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { configSecrets, createLogger, createRedactor } from '../../../src/log.ts';

const env = {
  DATABASE_URL: 'postgres://hubsync:db-password-42@db.example.com:5432/hubsync',
  HUBSPOT_TOKEN: 'pat-na1-0a1b2c3d-4e5f-6789',
  HUBSPOT_CLIENT_SECRET: 'c0ffee00-1111-2222-3333-444455556666',
  PARAGON_SIGNING_KEY:
    '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\\n-----END PRIVATE KEY-----',
  PARAGON_WEBHOOK_SECRET: 'paragon-webhook-secret-xyz',
};

const config = loadConfig(
  `
database: { url: "\${DATABASE_URL}" }
hubspot:
  apps: [{ appId: 1, clientSecret: "\${HUBSPOT_CLIENT_SECRET}" }]
  accounts: [{ portalId: 2, accessToken: "\${HUBSPOT_TOKEN}" }]
paragon: { projectId: p, signingKey: "\${PARAGON_SIGNING_KEY}", webhookSecret: "\${PARAGON_WEBHOOK_SECRET}" }
`,
  env,
);

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  it('never writes a configured secret, even inside error objects, causes and headers', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, secrets: configSecrets(config) });
    const signingKeyLine = env.PARAGON_SIGNING_KEY.split('\\n')[2]!;
    const cause = new Error(`connect failed for ${config.database.url}`);
    const err = new Error(`401 from HubSpot with token ${env.HUBSPOT_TOKEN}`, { cause });
    (err as Error & { response?: unknown }).response = { headers: { authorization: `Bearer ${env.HUBSPOT_TOKEN}` } };
    log.error({ err }, 'request failed');
    log.info({ secret: env.HUBSPOT_CLIENT_SECRET, nested: { key: config.paragon!.signingKey } }, 'values');
    log.warn(`signature mismatch using ${env.PARAGON_WEBHOOK_SECRET}; key line ${signingKeyLine}`);
    log.info({ headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.sig' } }, 'outgoing');
    log.info({ config }, 'whole config');
    const output = lines.join('');
    expect(lines.length).toBe(5);
    for (const secret of [env.HUBSPOT_TOKEN, env.HUBSPOT_CLIENT_SECRET, env.PARAGON_WEBHOOK_SECRET, 'db-password-42', signingKeyLine, 'eyJhbGciOiJSUzI1NiJ9']) {
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('[REDACTED]');
    expect(output).toContain('request failed');
  });

  it('redacts JSON-escaped and URL-encoded forms of a secret', () => {
    const redact = createRedactor(['we"ird/sec ret']);
    expect(redact(JSON.stringify({ a: 'x we"ird/sec ret y' }))).not.toContain('sec ret');
    expect(redact(`url?k=${encodeURIComponent('we"ird/sec ret')}`)).toBe('url?k=[REDACTED]');
  });

  it('leaves the words of the shipped sandbox configuration\u2019s own lines alone: its placeholder secrets are no common word', () => {
    const shipped = loadConfig(readFileSync('config/hubsync.yaml', 'utf8'), {});
    const redact = createRedactor(configSecrets(shipped));
    const line = JSON.stringify({ module: 'sandbox', sandbox: 'http://127.0.0.1:3000', msg: 'sandbox mode: HubSpot and Paragon stand-in running in this process' });
    expect(redact(line)).toBe(line);
    expect(redact(`secret ${shipped.hubspot.journal!.clientSecret}`)).toBe('secret [REDACTED]');
  });

  it('writes each key once, though a child and the call both set it', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination }).child({ module: 'polling', portalId: 1 }).child({ module: 'polling', job: 'contacts' });
    log.info({ portalId: 1, name: 'Contact Created' }, 'hello');
    const line = lines.join('');
    for (const key of ['module', 'portalId', 'name']) expect(line.split(`"${key}":`)).toHaveLength(2);
    expect(JSON.parse(line)).toMatchObject({ module: 'polling', portalId: 1, job: 'contacts', msg: 'hello' });
  });

  it('keeps the metrics line one line in the human-readable form a terminal gets', () => {
    // `pretty: always` is what a terminal gets by default; a child process, so that stdout is real.
    const script = `
      import { createLogger } from './src/log.ts';
      const counts = Object.fromEntries(Array.from({ length: 60 }, (_, i) => ['webhook.events.received{source=s' + i + '}', i]));
      createLogger({ pretty: 'always' }).info({ metrics: { counts, gauges: { 'webhook.backlog': 3 } } }, 'metrics');`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out).toContain('metrics');
    expect(out.trimEnd().split('\n')).toHaveLength(1);
  });
});
