import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.ts';
import { createServerDatabase, dropServerDatabase, seededEmbeddedDir, serverUrl } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-startup');

function config(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The whole of stderr is one `hubsync: …` line: no stack trace, no second message. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^hubsync: /);
  return lines[0]!;
}

describe('every start-up failure is one line and its exit code', () => {
  it('port in use: exit 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const result = await runCli(['run', '--config', config('port.yaml', `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'port-data'))}" }\nhttp: { port: ${port}, host: 127.0.0.1 }\n`)]);
      expect(result.code).toBe(1);
      expect(oneLine(result.stderr)).toBe(`hubsync: cannot listen on 127.0.0.1:${port}: the port is in use by another process; set http.port (or http.host) to another`);
    } finally {
      holder.close();
    }
  });

  it('an embedded directory that cannot be created or written: exit 1', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const result = await runCli(['run', '--config', config('dir.yaml', `database: { embeddedDir: "${path.join(file, 'data')}" }\nhttp: { port: 0 }\n`)]);
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/^hubsync: cannot use the embedded database directory .*a-file\/data: ENOTDIR/);
  });

  it('a missing secret: exit 2, the key named', async () => {
    const text = 'hubspot:\n  accounts: [{ portalId: 1, accessToken: "${HUBSPOT_TOKEN}" }]\n';
    const result = await runCli(['run', '--config', config('secret.yaml', text)], { HUBSPOT_TOKEN: undefined });
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(/^hubsync: invalid configuration in .*secret\.yaml: hubspot\.accounts\[0\]\.accessToken: environment variable HUBSPOT_TOKEN is not set$/);
  });

  it('a bad configuration key: exit 2', async () => {
    const result = await runCli(['run', '--config', config('bad.yaml', 'http: { port: true }\n')]);
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(/^hubsync: invalid configuration in .*bad\.yaml: http\.port: /);
  });

  it('a database that cannot be reached: exit 1', async () => {
    const result = await runCli(['run', '--config', config('down.yaml', 'database: { url: "postgres://u:pw@127.0.0.1:1/x" }\n')]);
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/^hubsync: cannot use the database at postgres:\/\/127\.0\.0\.1:1\/x: /);
  });

  it.skipIf(!serverUrl)('a Postgres schema behind: exit 1, and what to run', async () => {
    const url = await createServerDatabase(serverUrl!);
    try {
      const result = await runCli(['run', '--config', config('behind.yaml', `database: { url: "${url}" }\nhttp: { port: 0 }\n`)]);
      expect(result.code).toBe(1);
      expect(oneLine(result.stderr)).toMatch(/^hubsync: the database schema is behind .*run `hubsync migrate`$/);
    } finally {
      await dropServerDatabase(serverUrl!, url);
    }
  });

  it('migrate needs only the database section: the other secrets may be missing', async () => {
    const url = serverUrl ? await createServerDatabase(serverUrl) : undefined;
    try {
      const database = url ? `{ url: "${url}" }` : `{ embeddedDir: "${path.join(dir, 'migrate-data')}" }`;
      const file = config('release.yaml', `database: ${database}\nhubspot:\n  accounts: [{ portalId: 1, accessToken: "\${HUBSPOT_TOKEN}" }]\n`);
      const migrate = await runCli(['migrate', '--config', file], { HUBSPOT_TOKEN: undefined });
      expect(migrate.stderr).toBe('');
      expect(migrate.code).toBe(0);
      expect(migrate.stdout).toContain('migrations applied');
      // The daemon itself still needs them.
      expect((await runCli(['run', '--config', file], { HUBSPOT_TOKEN: undefined })).code).toBe(2);
    } finally {
      if (url) await dropServerDatabase(serverUrl!, url);
    }
  });
});
