import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Every test run gets a temporary directory of its own (TMPDIR, inherited by the test workers and
 * the processes they start). At the end it must be empty: a test that leaves files behind fails
 * the run, so runs do not pile up data directories on the machine. The directory goes either way.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'hubsync-test-run-'));
  process.env.TMPDIR = dir;
  return () => {
    const left = readdirSync(dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`tests left ${left.length} entries in their temporary directory: ${left.slice(0, 10).join(', ')}`);
  };
}
