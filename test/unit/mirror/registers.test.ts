import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setCreatedAt, setLifecycle, setMerged, setPrivacyDeleted, setProperty, type MirrorObject } from '../../../src/mirror/registers.ts';
import { emptyObject } from '../../../src/mirror/rule.ts';

type Write = (object: MirrorObject) => void;

const version = fc.integer({ min: 1, max: 6 });
const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({ p: fc.constantFrom('email', 'phone'), v: fc.constantFrom('a', 'b', null), at: version })
    .map(({ p, v, at }): Write => (o) => setProperty(o, p, v, at)),
  fc.record({ s: fc.constantFrom('live' as const, 'deleted' as const), at: version }).map(({ s, at }): Write => (o) => setLifecycle(o, s, at)),
  fc.record({ into: fc.constantFrom('7', '8'), at: version }).map(({ into, at }): Write => (o) => setMerged(o, into, at)),
  version.map((at): Write => (o) => setPrivacyDeleted(o, at)),
  version.map((at): Write => (o) => setCreatedAt(o, at)),
);

const run = (writes: readonly Write[]): MirrorObject => {
  const object = emptyObject({ portalId: 1, objectType: 'contacts', objectId: '1' }, 'poll', 0);
  for (const w of writes) w(object);
  return object;
};

describe('object registers', () => {
  it('give the same object whatever the order of the writes, and repeating one changes nothing', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 12 }).chain((writes) => fc.tuple(fc.constant(writes), fc.shuffledSubarray(writes, { minLength: writes.length }))), ([writes, shuffled]) => {
        expect(run(shuffled)).toEqual(run(writes));
        expect(run([...writes, ...writes])).toEqual(run(writes));
      }),
      { numRuns: 500 },
    );
  });

  it('a property keeps the newest version, and the larger value on a tie', () => {
    expect(run([(o) => setProperty(o, 'email', 'b', 2), (o) => setProperty(o, 'email', 'a', 2), (o) => setProperty(o, 'email', 'z', 1)]).properties).toEqual({ email: 'b' });
  });

  it('a privacy deletion or a merge erases the values and blocks later ones', () => {
    const erased = run([(o) => setProperty(o, 'email', 'a', 1), (o) => setPrivacyDeleted(o, 2), (o) => setProperty(o, 'email', 'b', 3)]);
    expect(erased).toMatchObject({ properties: {}, propertyVersions: {}, privacyDeletedAt: 2 });
    const merged = run([(o) => setMerged(o, '9', 2), (o) => setProperty(o, 'email', 'b', 3)]);
    expect(merged).toMatchObject({ properties: {}, mergedInto: '9', mergedVersion: 2 });
  });
});
