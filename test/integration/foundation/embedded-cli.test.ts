import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { finished, runCli, startCli, waitForOutput } from '../../helpers/cli.ts';
import { waitFor } from '../webhooks/helpers.ts';
import { seededEmbeddedDir } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';

const dir = tempDir('hubsync-embedded-cli');

describe('one embedded database shared by the daemon and the other commands', () => {
  it('a second daemon is refused in one line naming the first; a backfill run beside the daemon reaches it', async () => {
    const file = path.join(dir, 'hubsync.yaml');
    writeFileSync(
      file,
      [
        'sandbox: true',
        'sandboxOptions: { streamIntervalMs: 0, initialChanges: 0, timeScale: 0.1 }',
        `database: { embeddedDir: "${seededEmbeddedDir(path.join(dir, 'data'))}" }`,
        'http: { port: 0, host: 127.0.0.1 }',
        'jobs: [{ name: contacts, portalId: 62515, objectType: contacts, properties: [email], schedule: "* * * * * *" }]',
        'log: { level: info, pretty: never }',
      ].join('\n'),
    );
    const daemon = startCli(['run', '--config', file]);
    try {
      await waitForOutput(daemon, /"kind":"incremental".*"msg":"polling run finished"/);
      const second = await runCli(['run', '--config', file]);
      expect(second.code).toBe(1);
      expect(second.stderr.trim().split('\n')).toEqual([
        `hubsync: the embedded database in ${path.join(dir, 'data')} is in use by a running hubsync daemon (pid ${daemon.pid}): stop it first, or give this one another database.embeddedDir`,
      ]);
      const before = daemon.output.stdout.length;
      const backfill = await runCli(['backfill', 'contacts', '--config', file]);
      expect(backfill.stdout).toContain('job contacts: 1 cursor reset');
      // The daemon itself sees the request: its next run of the job is a backfill.
      await waitFor(() => /"kind":"backfill","status":"ok".*"msg":"polling run finished"/.test(daemon.output.stdout.slice(before)));
      const status = await runCli(['status', '--json', '--config', file]);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout).jobs[0].job).toBe('contacts');
    } finally {
      daemon.kill('SIGTERM');
    }
    expect((await finished(daemon)).code).toBe(0);
  }, 180_000);
});
