import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';

/** Name, in the run's directory, of the initialised embedded database the tests copy (see test/helpers/db.ts). */
const TEMPLATE_DIR = '.pglite-template';

/** Where the template's dump lies: beside its directory. */
export function templateDump(templateDir: string): string {
  return `${templateDir}.tar`;
}

/**
 * Every test run gets a temporary directory of its own (TMPDIR, inherited by the test workers and
 * the processes they start). At the end it must be empty: a test that leaves files behind fails
 * the run, so runs do not pile up data directories on the machine. The directory goes either way.
 *
 * The run also initialises one PGlite data directory there, as a directory and as a dump beside
 * it (HUBSYNC_TEST_PGLITE_TEMPLATE names the directory; `templateDump` the dump): each
 * embedded database a test opens starts from a copy instead of running initdb, about four seconds
 * each on two cores (on a Postgres run too: the CLI tests run commands on embedded directories).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hubsync-test-run-'));
  process.env.TMPDIR = dir;
  const template = path.join(dir, TEMPLATE_DIR);
  // Only the integration tests open databases: a unit-only run does not wait for initdb.
  if (project.vitest.projects.some((p) => p.name === 'integration')) {
    const pglite = await PGlite.create(template);
    const dump = await pglite.dumpDataDir('none');
    await pglite.close();
    writeFileSync(templateDump(template), Buffer.from(await dump.arrayBuffer()));
    process.env.HUBSYNC_TEST_PGLITE_TEMPLATE = template;
  }
  return () => {
    const left = readdirSync(dir).filter((name) => name !== TEMPLATE_DIR && name !== path.basename(templateDump(template)));
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`tests left ${left.length} entries in their temporary directory: ${left.slice(0, 10).join(', ')}`);
  };
}
