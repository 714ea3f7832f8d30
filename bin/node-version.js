import { pathToFileURL } from 'node:url';

// Which Node runs hubsync, checked before anything else loads (by bin/hubsync.js, and by
// `npm start` and `npm test`). Plain JavaScript that old Node versions can parse, so that they
// print one line instead of a syntax error from deep inside a dependency.

/** The versions package.json's `engines.node` allows; a test keeps the two the same. */
export const SUPPORTED = '^22.18.0 || >=24';

/** Why this Node cannot run hubsync, or undefined: 22.18+ (which strips TypeScript types by default) or 24+. */
export function nodeProblem(version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  if (major >= 24 || (major === 22 && minor >= 18)) return undefined;
  return `Node ${version.replace(/^v/, '')} cannot run hubsync: it needs Node 24 (or 22.18+, which runs TypeScript directly); get it from https://nodejs.org/en/download or with \`nvm install 24\``;
}

const problem = nodeProblem(process.versions.node);
// Run as a script (`node bin/node-version.js` before npm test): say it, and fail.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && problem) {
  process.stderr.write(`hubsync: ${problem}\n`);
  process.exit(1);
}
