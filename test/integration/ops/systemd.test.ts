import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../../helpers/cli.ts';
import { waitFor } from '../webhooks/helpers.ts';

/**
 * config/hubsync.service, shown to work rather than asserted: systemd's own checker reads it, and
 * its ExecStart runs under the file system the unit gives it. ProtectSystem=strict makes every
 * mount read-only but the state directory (StateDirectory=hubsync, writable, in $STATE_DIRECTORY)
 * and PrivateTmp gives a /tmp of its own; a private mount namespace (unshare, as root) builds the
 * same. ProtectHome is left out: the Node running the tests may live in a home directory.
 */
const SANDBOX = `
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /var/lib && mkdir -m 700 /var/lib/hubsync
# A checkout (or Node) under /tmp stays reachable, read-only like the rest, once the private /tmp hides it.
mkdir /var/lib/.host-tmp && mount --bind /tmp /var/lib/.host-tmp
for v in ROOT BIN NODE HUBSYNC_CONFIG; do
  case "\${!v}" in /tmp/*) export "$v=/var/lib/.host-tmp/\${!v#/tmp/}" ;; esac
done
mount -t tmpfs tmpfs /tmp
for m in $(findmnt -rn -o TARGET | sort -u); do
  case "$m" in /proc*|/sys*|/dev*|/var/lib|/tmp) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac
done
touch /opt-hubsync-probe 2>/dev/null && { echo "root is still writable" >&2; exit 3; }
cd "$ROOT" && exec "$NODE" "$BIN" run
`;

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

const env = {
  NODE_ENV: 'production',
  STATE_DIRECTORY: '/var/lib/hubsync',
  PUBLIC_URL: 'https://hubsync.example.com',
  HUBSPOT_APP_ID: '1',
  HUBSPOT_CLIENT_SECRET: 'unit-check-secret',
  HUBSPOT_PORTAL_ID: '62515',
  HUBSPOT_TOKEN: 'pat-na1-unit-check',
  PORT: '0',
  DATABASE_URL: '',
};

function underUnitMounts(extra: Record<string, string> = {}) {
  const child = spawn('unshare', ['-m', 'bash', '-c', SANDBOX], {
    env: { ...process.env, ...env, HUBSYNC_CONFIG: `${ROOT}/config/systemd.example.yaml`, NODE: process.execPath, BIN, ROOT, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (output.stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (output.stderr += String(chunk)));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output, done };
}

describe('the systemd unit', () => {
  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', () => {
    const result = spawnSync('systemd-analyze', ['verify', 'config/hubsync.service'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stderr.split('\n').filter((line) => /hubsync\.service/.test(line) && !/User|Group|hubsync\.yaml|\/opt\/hubsync/.test(line))).toEqual([]);
    expect(result.status).toBe(0);
  });

  it.skipIf(!canUnshare)('runs its ExecStart with the example configuration on a read-only system, the database in the state directory', async () => {
    const run = underUnitMounts();
    try {
      await waitFor(() => /hubsync running/.test(run.output.stdout) || run.child.exitCode !== null, 90_000);
      expect(run.output.stdout).toContain('"database":"embedded:/var/lib/hubsync (socket /var/lib/hubsync/.s.PGSQL.5432)"');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.done).toBe(0);
  }, 120_000);

  it.skipIf(!canUnshare)('with the old default directory (./data, under the read-only working directory) it fails in one line instead', async () => {
    const run = underUnitMounts({ STATE_DIRECTORY: './data' });
    expect(await run.done).toBe(1);
    expect(run.output.stderr.trim()).toMatch(/^hubsync: cannot use the embedded database directory \.\/data: E(ROFS|NOENT|ACCES)\b[^\n]*$/);
  }, 120_000);
});
