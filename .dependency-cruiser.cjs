/**
 * The layering of hubsync, as rules `npm run lint` checks (DESIGN.md, "Layout"):
 * - the ground floor (errors.ts, loop.ts, log.ts, config/, db/, metrics/) knows no feature;
 * - the mirror (the rule and its stores) knows only the ground floor;
 * - features own their queries and never import the CLI; only the CLI wires them together;
 * - the sandbox is a test double: it imports nothing from the daemon, and of the daemon only
 *   the CLI (the demo and `hubsync sandbox`) imports it;
 * - no cycles, no orphans, no development dependency in shipped code.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make load order matter and hide which module is the lower one.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports is dead code (entry points and tests excepted).',
      from: {
        orphan: true,
        pathNot: ['^bin/', '^migrations/', '^test/', '\\.d\\.ts$', '(^|/)\\.[^/]+\\.(js|cjs|mjs|json)$', '^vitest\\.config\\.ts$'],
      },
      to: {},
    },
    {
      name: 'ground-knows-no-feature',
      severity: 'error',
      comment:
        'errors.ts, loop.ts, log.ts, config/, db/ and metrics/ are the floor every feature stands on; they import nothing above it ' +
        '(config may use the object-type table, a leaf).',
      from: { path: '^src/(errors\\.ts|loop\\.ts|log\\.ts|config/|db/|metrics/)' },
      to: {
        path: '^src/',
        pathNot: ['^src/(errors\\.ts|loop\\.ts|log\\.ts|config/|db/|metrics/)', '^src/hubspot/object-types\\.ts$'],
      },
    },
    {
      name: 'object-types-is-a-leaf',
      severity: 'error',
      comment: 'The object-type table is imported by the configuration, so it imports nothing.',
      from: { path: '^src/hubspot/object-types\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'mirror-knows-only-the-ground',
      severity: 'error',
      comment: 'The mirror rule and its stores are what every path feeds; they know none of the paths.',
      from: { path: '^src/mirror/' },
      to: {
        path: '^src/',
        pathNot: ['^src/mirror/', '^src/(errors\\.ts|loop\\.ts|log\\.ts|config/|db/|metrics/)', '^src/hubspot/object-types\\.ts$'],
      },
    },
    {
      name: 'no-feature-imports-the-cli',
      severity: 'error',
      comment: 'The CLI wires features together; a feature importing it would turn the house upside down.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'sandbox-imports-no-daemon-code',
      severity: 'error',
      comment: 'The stand-in HubSpot/Paragon follows the public APIs, not our code.',
      from: { path: '^src/sandbox/' },
      to: { path: '^src/', pathNot: '^src/sandbox/' },
    },
    {
      name: 'only-the-cli-imports-the-sandbox',
      severity: 'error',
      comment: 'The daemon never depends on its test double; the demo and `hubsync sandbox` commands (cli/) may.',
      from: { path: '^src/', pathNot: ['^src/sandbox/', '^src/cli/'] },
      to: { path: '^src/sandbox/' },
    },
    {
      name: 'shipped-code-imports-no-test-code',
      severity: 'error',
      from: { path: '^(src|bin|migrations)/' },
      to: { path: '^test/' },
    },
    {
      name: 'migrations-are-frozen',
      severity: 'error',
      comment: 'A migration must run the same way for ever, whatever src/ becomes.',
      from: { path: '^migrations/' },
      to: { path: '^src/' },
    },
    {
      name: 'no-dev-dependencies-in-shipped-code',
      severity: 'error',
      from: { path: '^(src|bin|migrations)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    skipAnalysisNotInRules: true,
  },
};
