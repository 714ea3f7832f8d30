import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests, and integration tests that start real servers,
// databases (PGlite by default, Postgres when DATABASE_URL is set) and processes.
export default defineConfig({
  test: {
    // A temporary directory per run, which must be empty at the end (tests clean up after themselves).
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Pure functions and in-process doubles: one module graph per worker, not one per file
          // (the project runs in 16 s instead of 35 s on two cores).
          isolate: false,
          // Projects that share workers' modules and differ in maxWorkers run one after the other.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Two cores: keep integration files from starving each other.
          maxWorkers: 2,
          // Each file opens its own databases, servers and processes and closes them; the module graph
          // is shared per worker (whole suite with isolated files 7 min 28 s on PGlite and 5 min 9 s on
          // Postgres here; this project alone now 4 min 43 s and 3 min 50 s), so nothing a test asserts
          // may depend on module state another file changed.
          isolate: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
