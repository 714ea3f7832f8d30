import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../../src/db/sql.ts';

/** The array element quoting Postgres reads: `"`, each `\` and `"` escaped with a backslash. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

describe('array literals', () => {
  it('quote every string as Postgres reads it back, whichever way they are built', () => {
    const strings = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom('a', '"', '\\', ',', '{', '}', ' ', '\n', '\u0000', '\u2028', 'é', '\ud83d', '\ude00') }),
      fc.json(),
      fc.object().map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(fc.array(fc.option(strings, { nil: null })), (values) => {
        expect(arrayLiteral(values)).toBe(`{${values.map((v) => (v === null ? 'NULL' : quoted(v))).join(',')}}`);
      }),
      { numRuns: 2_000 },
    );
  });
});
