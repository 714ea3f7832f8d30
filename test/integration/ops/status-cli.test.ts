import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSandboxCommand } from '../../../src/sandbox/cli.ts';
import { runCli } from '../../helpers/cli.ts';
import { seededEmbeddedDir } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-status-cli');

function config(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const projects = '  - { name: projects, portalId: 62515, objectType: p_projects, properties: [name] }\n';

describe('hubsync status --json', () => {
  it('prints only the report on stdout: sandbox mode asks no HubSpot about custom object names, and a failed lookup is a log line on stderr', async () => {
    // Sandbox mode: the stand-in lives in the daemon's process, so there is nothing to ask.
    const sandbox = await runCli(['status', '--json', '--config', config('sandbox.yaml', `sandbox: true\ndatabase: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'sandbox-data'))}" }\njobs:\n${projects}`)]);
    expect(sandbox.code).toBe(0);
    expect(JSON.parse(sandbox.stdout)).toMatchObject({ jobs: [{ job: 'projects' }] });
    expect(sandbox.stderr).toBe('');

    // A HubSpot that refuses the token: the report still comes, the warning goes to stderr in one line.
    const refusing = http.createServer((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const offline = await runCli(['status', '--json', '--config', config('offline.yaml', [
      `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'offline-data'))}" }`,
      `hubspot: { baseUrl: "http://127.0.0.1:${(refusing.address() as AddressInfo).port}", accounts: [{ portalId: 62515, accessToken: pat-test }] }`,
      `jobs:\n${projects}`,
    ].join('\n'))]).finally(() => refusing.close());
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ jobs: [{ job: 'projects' }] });
    const warnings = offline.stderr.trim().split('\n');
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('custom object types could not be resolved') });
    expect(warnings[0]).not.toContain('    at ');

    // A HubSpot whose connections break (retried with backoff for longer than a report should wait):
    // the report comes after the lookup's deadline, and the retries end with the command.
    const silent = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hanging = await runCli(['status', '--json', '--config', config('silent.yaml', [
      `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'silent-data'))}" }`,
      `hubspot: { baseUrl: "http://127.0.0.1:${(silent.address() as AddressInfo).port}", accounts: [{ portalId: 62515, accessToken: pat-test }] }`,
      `jobs:\n${projects}`,
    ].join('\n'))]).finally(() => {
      silent.closeAllConnections();
      silent.close();
    });
    expect(hanging.code).toBe(0);
    expect(JSON.parse(hanging.stdout)).toMatchObject({ jobs: [{ job: 'projects' }] });
    const lines = hanging.stderr.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; reason?: string });
    expect(lines.at(-1)).toMatchObject({ msg: expect.stringContaining('custom object types could not be resolved'), reason: 'HubSpot did not answer within 3 s' });
    expect(lines.slice(0, -1).every((line) => line.msg === 'HubSpot call failed: retrying')).toBe(true);
  });
});

describe('hubsync status in sandbox mode', () => {
  const journal = 'hubspot: { journal: { clientId: "${HUBSPOT_CLIENT_ID:-sandbox-client-id}", clientSecret: "${HUBSPOT_CLIENT_SECRET:-sandbox-client-secret}" } }\n';

  it('asks no HubSpot when the stand-in runs inside the daemon, and asks the running stand-in sandboxOptions.url names', async () => {
    const inside = await runCli(['status', '--json', '--config', config('inside.yaml', `sandbox: true\ndatabase: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'inside-data'))}" }\n${journal}`)]);
    expect(inside.code).toBe(0);
    expect(JSON.parse(inside.stdout).journal.subscriptions).toEqual({ error: expect.stringMatching(/^the sandbox stand-in runs inside the daemon; set sandboxOptions\.url/) });

    const standalone = await runSandboxCommand({ seed: 3, timeScale: 0.05, streamIntervalMs: 0, print: () => undefined });
    try {
      const shared = await runCli(['status', '--json', '--config', config('shared.yaml', [
        `sandbox: true\nsandboxOptions: { url: "${standalone.baseUrl}" }`,
        `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'shared-data'))}" }`,
        journal,
        `jobs:\n  - { name: contacts, portalId: 62515, objectType: contacts, properties: [email] }\n${projects}`,
      ].join('\n'))]);
      expect(shared.code).toBe(0);
      // The stand-in's subscriptions, none made yet: the next sync would create them (the custom object keyed by its type id).
      const report = JSON.parse(shared.stdout) as { journal: { subscriptions: { inSync: number; toCreate: number } }; coverage: { journal: { groups: string[] } } };
      expect(report.journal.subscriptions).toMatchObject({ inSync: 0, conflicts: [] });
      expect(report.journal.subscriptions.toCreate).toBeGreaterThan(0);
      expect(report.coverage.journal.groups).toEqual(['62515/contacts', '62515/2-3465']);
    } finally {
      await standalone.close();
    }
  });
});
