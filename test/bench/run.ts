/**
 * `npm run bench`: runs every `test/bench/*.bench.ts` (or those named on the command line) one
 * after another and prints their figures. Each bench exports `run(): Promise<string[]>`.
 * Benchmarks use real Postgres when DATABASE_URL is set, the embedded database otherwise.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.startsWith(name)))
  .sort();

console.log(
  `hubsync benchmarks — node ${process.version}, ${os.cpus().length} cores, database: ${process.env.DATABASE_URL ? 'postgres (DATABASE_URL)' : 'embedded PGlite'}`,
);
let failed = false;
for (const file of files) {
  const started = performance.now();
  console.log(`\n## ${file.replace('.bench.ts', '')}`);
  try {
    const bench = (await import(new URL(file, import.meta.url).href)) as { run(): Promise<string[]> };
    for (const line of await bench.run()) console.log(`  ${line}`);
    console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } catch (err) {
    failed = true;
    console.error(`  failed: ${(err as Error).stack ?? String(err)}`);
  }
}
process.exit(failed ? 1 : 0);
