import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { finished, runCli, startCli, waitForOutput } from '../../helpers/cli.ts';
import { seededEmbeddedDir } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-cli');

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('hubsync CLI', () => {
  it('lists its commands', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['run', 'migrate', 'status', 'config check', 'sandbox', 'demo', 'backfill', 'outbox retry', 'triggers sync']) {
      expect(result.stdout).toContain(`  ${command}`);
    }
  });

  it('refuses a bad configuration with one message naming every bad key, exit code 2, no stack trace', async () => {
    const file = writeConfig(
      'bad.yaml',
      `jobs:\n  - { name: a, portalId: 1, objectType: contacts, schedule: "nope" }\n  - { name: a, portalId: 1, objectType: deals }\nhttp: { port: -1 }\nmetrics: { intervalSeconds: 0 }\n`,
    );
    const result = await runCli(['config', 'check', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('jobs[0].schedule: not a cron expression');
    // Checks across keys are reported beside the others, not only once everything else is right.
    expect(result.stderr).toContain('jobs[1].name: duplicate job name "a"');
    expect(result.stderr).toContain('jobs[0].portalId: no hubspot.accounts entry for portal 1');
    expect(result.stderr).toMatch(/http\.port: /);
    expect(result.stderr).toMatch(/metrics\.intervalSeconds: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr.match(/invalid configuration/g)).toHaveLength(1);
  });

  it('says in one line which database it cannot reach, without the password or a stack trace', async () => {
    const file = writeConfig('unreachable.yaml', 'database: { url: "postgres://hubsync:hunter2-secret@127.0.0.1:5999/app" }\n');
    const result = await runCli(['migrate', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot use the database at postgres://127.0.0.1:5999/app');
    expect(result.stderr + result.stdout).not.toContain('hunter2-secret');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints the resolved configuration with secrets masked', async () => {
    const file = writeConfig(
      'ok.yaml',
      `hubspot:\n  apps: [{ appId: 1, clientSecret: "\${APP_SECRET}" }]\n  accounts: [{ portalId: 2, accessToken: "\${TOKEN}" }]\n`,
    );
    const result = await runCli(['config', 'check', '--config', file], { APP_SECRET: 'secret-one-1234', TOKEN: 'pat-na1-secret-two' });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('secret-one-1234');
    expect(result.stdout).not.toContain('pat-na1-secret-two');
    expect(JSON.parse(result.stdout).hubspot.accounts[0].portalId).toBe(2);
  });

  it('says plainly when an unknown command is asked for', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command');
  });

  it('stops gracefully on SIGTERM and exits 0', async () => {
    const file = writeConfig(
      'run.yaml',
      `database: { embeddedDir: "${path.join(dir, 'data')}" }\nhttp: { port: 0, host: 127.0.0.1 }\nmetrics: { intervalSeconds: 1 }\nlog: { level: debug, pretty: never }\n`,
    );
    const child = startCli(['run', '--config', file]);
    await waitForOutput(child, /hubsync running/);
    const signalled = Date.now();
    child.kill('SIGTERM');
    const result = await finished(child);
    expect(result.code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(result.stdout).toMatch(/"msg":"stopped"/);
  });

  /** A daemon with a client stuck half-way through sending a webhook, as a slow or hostile sender is. */
  async function runWithStuckClient(name: string) {
    const file = writeConfig(name, `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, `${name}-data`))}" }\nhttp: { port: 0, host: 127.0.0.1 }\nlog: { level: info, pretty: never }\n`);
    const child = startCli(['run', '--config', file]);
    await waitForOutput(child, /hubsync running/);
    const receiver = /"receiver":"http:\/\/[^:]+:(\d+)"/.exec(child.output.stdout)?.[1];
    const socket = net.connect(Number(receiver), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /webhooks/hubspot HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{"eventId"');
    socket.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { child, socket };
  }

  it('on SIGTERM cuts off a client that never finishes its request, and still exits 0 inside 30 s', async () => {
    const { child, socket } = await runWithStuckClient('stuck.yaml');
    const signalled = Date.now();
    child.kill('SIGTERM');
    const result = await finished(child);
    socket.destroy();
    expect(result.code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(25_000);
  }, 120_000);

  it('a second signal exits at once, whatever is still running', async () => {
    const { child, socket } = await runWithStuckClient('twice.yaml');
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = Date.now();
    child.kill('SIGINT');
    const result = await finished(child);
    socket.destroy();
    expect(result.code).toBe(1);
    expect(Date.now() - second).toBeLessThan(5_000);
    expect(result.stdout).toMatch(/second signal: exiting now/);
  }, 120_000);
});
