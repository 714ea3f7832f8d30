#!/usr/bin/env node
import { nodeProblem } from './node-version.js';

// Node 22.18+ and 24 run the TypeScript sources directly (type stripping); older ones get one line.
const problem = nodeProblem(process.versions.node);
if (problem) {
  process.stderr.write(`hubsync: ${problem}\n`);
  process.exit(1);
}
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
