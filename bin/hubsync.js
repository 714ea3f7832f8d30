#!/usr/bin/env node
// Node 22.18+ and 24 run the TypeScript sources directly (type stripping).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`hubsync: Node ${process.versions.node} is too old; Node 24 (or 22.18+) is required\n`);
  process.exit(1);
}
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
