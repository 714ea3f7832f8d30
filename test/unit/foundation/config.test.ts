import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { maskConfig, MASK } from '../../../src/config/mask.ts';
import { ConfigError } from '../../../src/errors.ts';

const minimal = `
hubspot:
  apps: [{ appId: 1, clientSecret: "\${SECRET}" }]
  accounts: [{ portalId: 456, accessToken: "\${TOKEN}" }]
jobs:
  - { name: contacts, portalId: 456, objectType: contacts, schedule: "*/2 * * * *" }
`;

function problemsOf(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('resolves ${VAR} and ${VAR:-default} references and applies defaults', () => {
    const config = loadConfig(
      `${minimal}\nhttp: { port: "\${PORT:-3000}", publicUrl: "\${PUBLIC_URL:-}" }\ndatabase: { url: "\${DATABASE_URL:-}" }`,
      { SECRET: 's3cret-value', TOKEN: 'pat-na1-abcdef' },
    );
    expect(config.http.port).toBe(3000);
    expect(config.http.publicUrl).toBe('');
    expect(config.database.url).toBe('');
    expect(config.database.preparedStatements).toBe(true);
    expect(config.hubspot.apps[0]?.clientSecret).toBe('s3cret-value');
    expect(config.hubspot.accounts[0]?.tier).toBe('professional');
    expect(config.jobs[0]?.lookbackSeconds).toBe(120);
    expect(config.metrics.format).toBe('json');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig(minimal, { SECRET: 'x'.repeat(8), TOKEN: 'y'.repeat(8) });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.jobs[0])).toBe(true);
  });

  it('reports every problem at once with the path of its key', () => {
    const text = `
hubspot:
  accounts: [{ portalId: 456, accessToken: tok }]
jobs:
  - { name: contacts, portalId: 456, objectType: contacts }
  - { name: deals, portalId: 456, objectType: deals, schedule: "every minute" }
http: { port: 99999 }
metrics: { format: xml, colour: blue }
database: { preparedStatements: "no" }
`;
    const problems = problemsOf(text);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^jobs\[1\]\.schedule: not a cron expression/),
        expect.stringMatching(/^http\.port: /),
        expect.stringMatching(/^metrics\.format: /),
        'metrics.colour: unknown key',
        expect.stringMatching(/^database\.preparedStatements: /),
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('names a missing environment variable with the key that references it', () => {
    expect(problemsOf(minimal, { TOKEN: 'abcdefgh' })).toEqual(['hubspot.apps[0].clientSecret: environment variable SECRET is not set']);
  });

  it('reports the checks across keys beside a key of the wrong type', () => {
    expect(problemsOf(`jobs: [{ name: a, portalId: 1, objectType: contacts }, { name: a, portalId: 1, objectType: deals }]\nhttp: { port: "abc" }`)).toEqual([
      expect.stringMatching(/^http\.port: /),
      'jobs[0].portalId: no hubspot.accounts entry for portal 1',
      'jobs[1].name: duplicate job name "a"',
      'jobs[1].portalId: no hubspot.accounts entry for portal 1',
    ]);
  });

  it('refuses jobs for portals with no account, duplicate job names, and YAML syntax errors', () => {
    expect(problemsOf(`jobs: [{ name: a, portalId: 1, objectType: contacts }, { name: a, portalId: 1, objectType: deals }]`)).toEqual([
      'jobs[0].portalId: no hubspot.accounts entry for portal 1',
      'jobs[1].name: duplicate job name "a"',
      'jobs[1].portalId: no hubspot.accounts entry for portal 1',
    ]);
    expect(problemsOf('jobs: [unclosed')[0]).toMatch(/^yaml: /);
  });

  it('catches a misspelled object type, with a suggestion, and accepts every form HubSpot does', () => {
    expect(problemsOf(minimal.replace('objectType: contacts', 'objectType: contatcs'), { SECRET: 'x', TOKEN: 'y' })).toEqual([
      expect.stringMatching(/^jobs\[0\]\.objectType: "contatcs" is not a HubSpot object type \(did you mean contacts\?\)/),
    ]);
    for (const type of ['contact', 'CONTACTS', '0-1', 'line_items', '2-3465', 'p_cars', 'p12345_cars']) {
      expect(loadConfig(minimal.replace('objectType: contacts', `objectType: ${type}`), { SECRET: 'x', TOKEN: 'y' }).jobs[0]?.objectType).toBeDefined();
    }
    // A base name without the p_ prefix is no longer accepted by HubSpot's API.
    expect(problemsOf(minimal.replace('objectType: contacts', 'objectType: vendor'), { SECRET: 'x', TOKEN: 'y' })).toHaveLength(1);
  });

  it('takes numbers and booleans strictly: a boolean or an empty string where a number belongs is a mistake', () => {
    const text = `${minimal.replace('schedule: "*/2 * * * *"', 'schedule: "*/2 * * * *", lookbackSeconds: true, pageSize: ""')}
http: { port: "\${PORT}", bodyLimitBytes: null }
database: { preparedStatements: 1 }
`;
    expect(problemsOf(text, { SECRET: 'x', TOKEN: 'y', PORT: '8080' })).toEqual([
      expect.stringMatching(/^database\.preparedStatements: .*expected boolean/),
      expect.stringMatching(/^http\.bodyLimitBytes: .*expected number/),
      expect.stringMatching(/^jobs\[0\]\.lookbackSeconds: .*expected number, received boolean/),
      expect.stringMatching(/^jobs\[0\]\.pageSize: .*expected number/),
    ]);
    // Numbers from environment references are text, and still numbers.
    expect(loadConfig(`${minimal}\nhttp: { port: "\${PORT}" }`, { SECRET: 'x', TOKEN: 'y', PORT: '8080' }).http.port).toBe(8080);
  });

  it('takes webhooks.floodShare as a share above 0 up to 1, defaulting to 0.25, and names the key otherwise', () => {
    const env = { SECRET: 'x'.repeat(8), TOKEN: 'y'.repeat(8) };
    expect(loadConfig(minimal, env).webhooks.floodShare).toBe(0.25);
    expect(loadConfig(`${minimal}\nwebhooks: { floodShare: 1 }`, env).webhooks.floodShare).toBe(1);
    for (const bad of ['0', '1.5', '-0.2', '"half"']) {
      expect(problemsOf(`${minimal}\nwebhooks: { floodShare: ${bad} }`, env)).toEqual([expect.stringMatching(/^webhooks\.floodShare: /)]);
    }
  });

  it('range-checks every cron field, steps included, with the field named', () => {
    const problems = problemsOf(minimal.replace('schedule: "*/2 * * * *"', 'schedule: "*/61 * * * *", archivedSweep: "0 25 * * *"'), { SECRET: 'x', TOKEN: 'y' });
    expect(problems).toEqual([
      'jobs[0].schedule: not a cron expression (minute step /61 is larger than its range 0-59)',
      expect.stringMatching(/^jobs\[0\]\.archivedSweep: not a cron expression \(25 .*hour\)/),
    ]);
    expect(loadConfig(minimal.replace('"*/2 * * * *"', '"*/15 * * * * *"'), { SECRET: 'x', TOKEN: 'y' }).jobs[0]?.schedule).toBe('*/15 * * * * *');
  });

  it('reports one mistake once: a bad portal id is not also a missing account', () => {
    expect(problemsOf(minimal.replace('portalId: 456, objectType', 'portalId: abc, objectType'), { SECRET: 'x', TOKEN: 'y' })).toEqual([
      expect.stringMatching(/^jobs\[0\]\.portalId: .*expected number/),
    ]);
    expect(problemsOf(minimal.replace('accounts: [{ portalId: 456', 'accounts: [{ portalId: true'), { SECRET: 'x', TOKEN: 'y' })).toEqual([
      expect.stringMatching(/^hubspot\.accounts\[0\]\.portalId: .*expected number/),
    ]);
  });

  it('refuses sandbox mode in production', () => {
    expect(problemsOf('sandbox: true', { NODE_ENV: 'production' })).toEqual([
      'sandbox: the built-in stand-in is refused when NODE_ENV=production',
    ]);
  });

  it('accepts the shipped configuration and the production example', () => {
    const shipped = loadConfig(readFileSync('config/hubsync.yaml', 'utf8'), {});
    expect(shipped.sandbox).toBe(true);
    expect(shipped.database.url).toBe('');
    const env = {
      DATABASE_URL: 'postgres://u:pw@db.example.com:5432/x',
      PUBLIC_URL: 'https://hubsync.example.com',
      HUBSPOT_CLIENT_SECRET: 'client-secret-1',
      HUBSPOT_CLIENT_ID: 'client-id-1',
      HUBSPOT_TOKEN: 'pat-na1-11111111-2222',
      PARAGON_PROJECT_ID: 'proj',
      PARAGON_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----',
      PARAGON_WEBHOOK_SECRET: 'whsec-1',
    };
    const production = loadConfig(readFileSync('config/production.example.yaml', 'utf8'), env);
    expect(production.hubspot.accounts[0]?.accessToken).toBe(env.HUBSPOT_TOKEN);
    expect(production.hubspot.journal).toMatchObject({ clientId: env.HUBSPOT_CLIENT_ID, variant: 'global', start: 'earliest' });
    const printed = JSON.stringify(maskConfig(production));
    for (const secret of [env.HUBSPOT_CLIENT_SECRET, env.HUBSPOT_TOKEN, env.PARAGON_SIGNING_KEY, env.PARAGON_WEBHOOK_SECRET, 'pw@']) {
      expect(printed).not.toContain(secret);
    }
    expect(printed).toContain(MASK);
    const systemd = loadConfig(readFileSync('config/systemd.example.yaml', 'utf8'), { ...env, DATABASE_URL: '', STATE_DIRECTORY: '/var/lib/hubsync', HUBSPOT_APP_ID: '1', HUBSPOT_PORTAL_ID: '2', NODE_ENV: 'production' });
    expect(systemd.database).toMatchObject({ url: '', embeddedDir: '/var/lib/hubsync' });
  });
});
