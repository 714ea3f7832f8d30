import { afterAll, beforeAll } from 'vitest';
import { createTestDb, type TestDb } from './db.ts';

/**
 * A fresh database for this test file (`createTestDb`), opened before its tests and closed after
 * them. Call it at the top of the file; what it returns reads the open handle, so use its members
 * inside tests and hooks.
 */
export function useTestDb(options: { migrate?: boolean } = {}): TestDb {
  let opened: TestDb | undefined;
  beforeAll(async () => {
    opened = await createTestDb(options);
  });
  afterAll(async () => {
    await opened?.close();
  });
  return new Proxy({} as TestDb, {
    get(_, key) {
      if (!opened) throw new Error('the test database opens before the tests: use it inside a test or a hook');
      return Reflect.get(opened, key);
    },
  });
}
