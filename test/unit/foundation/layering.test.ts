import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CRUISER = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');

/** A miniature house in which each file breaks the rule it is named after (and nothing else). */
const FIXTURE: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'nodenext', allowImportingTsExtensions: true, noEmit: true } }),
  'src/cli/main.ts': "import './wired.ts';\nimport '../sandbox/index.ts';\n",
  'src/cli/wired.ts': "import '../db/engine.ts';\nimport '../config/schema.ts';\nimport '../loop.ts';\nimport '../mirror/store.ts';\nimport '../polling/jobs.ts';\nimport '../webhooks/a.ts';\n",
  'src/errors.ts': 'export const x = 1;\n',
  'src/loop.ts': "import { x } from './polling/jobs.ts';\nexport const y = x;\n",
  'src/db/engine.ts': "import { x } from '../mirror/store.ts';\nexport const y = x;\n",
  'src/config/schema.ts': "import { z } from '../hubspot/object-types.ts';\nimport { w } from '../hubspot/client.ts';\nexport const y = z + w;\n",
  'src/hubspot/object-types.ts': "import { x } from '../errors.ts';\nexport const z = x;\n",
  'src/hubspot/client.ts': 'export const w = 1;\n',
  'src/mirror/store.ts': "import { w } from '../hubspot/client.ts';\nexport const x = w;\n",
  'src/polling/jobs.ts': "import '../cli/main.ts';\nimport '../sandbox/index.ts';\nexport const x = 1;\n",
  'src/webhooks/a.ts': "import './b.ts';\nexport const a = 1;\n",
  'src/webhooks/b.ts': "import { a } from './a.ts';\nexport const b = a;\n",
  'src/webhooks/orphan.ts': 'export const lonely = 1;\n',
  'src/sandbox/index.ts': "import { x } from '../errors.ts';\nexport const s = x;\n",
  'migrations/2026_01_01_000000_first.ts': "import { x } from '../src/errors.ts';\nexport const m = x;\n",
};

const dir = mkdtempSync(path.join(tmpdir(), 'hubsync-layering-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the layering rules (.dependency-cruiser.cjs)', () => {
  it('fail on each kind of violation, naming the rule and the file', async () => {
    for (const [file, text] of Object.entries(FIXTURE)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    const run = promisify(execFile)(process.execPath, [CRUISER, 'src', 'migrations', '--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], {
      cwd: dir,
    });
    const failure = await run.then(
      () => undefined,
      (err: { code?: number; stdout?: string }) => err,
    );
    // The exit status is the number of violations.
    expect(failure?.code).toBeGreaterThan(0);
    // A cycle is reported once, at the module the cruise met first.
    const found = new Set([...(failure?.stdout ?? '').matchAll(/error ([a-z-]+): (\S+)/g)].map((m) => `${m[1]} ${m[2]}`));
    expect([...found].sort()).toEqual(
      [
        'ground-knows-no-feature src/loop.ts',
        'ground-knows-no-feature src/db/engine.ts',
        'ground-knows-no-feature src/config/schema.ts',
        'object-types-is-a-leaf src/hubspot/object-types.ts',
        'mirror-knows-only-the-ground src/mirror/store.ts',
        'no-feature-imports-the-cli src/polling/jobs.ts',
        'only-the-cli-imports-the-sandbox src/polling/jobs.ts',
        'sandbox-imports-no-daemon-code src/sandbox/index.ts',
        'migrations-are-frozen migrations/2026_01_01_000000_first.ts',
        'no-circular src/webhooks/a.ts',
        'no-circular src/cli/main.ts',
        'no-circular src/cli/wired.ts',
        'no-orphans src/webhooks/orphan.ts',
      ].sort(),
    );
  });
});
