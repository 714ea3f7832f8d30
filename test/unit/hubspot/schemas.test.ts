import { describe, expect, it } from 'vitest';
import { associationLabel, associationLabelWords } from '../../../src/hubspot/object-types.ts';
import { createObjectTypeResolver, matchObjectType, type CustomObjectSchema } from '../../../src/hubspot/schemas.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { resolveJobTypes } from '../../../src/polling/job-types.ts';

const PROJECTS: CustomObjectSchema = { objectTypeId: '2-3465', name: 'projects', fullyQualifiedName: 'p62515_projects', singular: 'Project', plural: 'Projects' };
const CARS: CustomObjectSchema = { objectTypeId: '2-77', name: 'cars', fullyQualifiedName: 'p62515_cars', singular: 'Used Car', plural: 'Used Cars' };

describe('object type identity', () => {
  it('keys HubSpot\'s types by plural name and custom ones by type id, whatever name they are given', () => {
    const schemas = [PROJECTS, CARS];
    for (const name of ['contacts', 'contact', 'CONTACT', '0-1']) expect(matchObjectType(schemas, name)).toBe('contacts');
    expect(matchObjectType(schemas, 'LINE_ITEM')).toBe('line_items');
    for (const name of ['2-3465', 'projects', 'p_projects', 'p62515_projects', 'Project', 'PROJECT']) expect(matchObjectType(schemas, name)).toBe('2-3465');
    expect(matchObjectType(schemas, 'USED_CAR')).toBe('2-77');
    // Without a custom `project`, the name is HubSpot's own projects object.
    expect(matchObjectType([], 'PROJECT')).toBe('projects');
    expect(matchObjectType(schemas, '2-999')).toBeUndefined();
    expect(matchObjectType(schemas, 'spaceships')).toBeUndefined();
  });

  it('builds and splits association labels', () => {
    expect(associationLabel('contacts', 'companies')).toBe('CONTACT_TO_COMPANY');
    expect(associationLabel('line_items', '2-3465')).toBe('LINE_ITEM_TO_2-3465');
    expect(associationLabelWords('LINE_ITEM_TO_DEAL')).toEqual(['LINE_ITEM', 'DEAL']);
    expect(associationLabelWords('279')).toBeUndefined();
  });

  it('reads a portal\'s schemas once, and again for an unknown name only after the refresh interval', async () => {
    let now = 0;
    const loads: number[] = [];
    const resolver = createObjectTypeResolver({
      load: async (portalId) => {
        loads.push(portalId);
        return { ok: true, value: loads.length > 1 ? [PROJECTS, CARS] : [PROJECTS] };
      },
      refreshMs: 1000,
      now: () => now,
    });
    expect(resolver.known(1, 'p_projects')).toBeUndefined();
    expect(await resolver.resolve(1, 'contacts')).toEqual({ ok: true, value: 'contacts' });
    expect(await resolver.resolve(1, 'p_projects')).toEqual({ ok: true, value: '2-3465' });
    expect(resolver.known(1, 'PROJECT')).toBe('2-3465');
    expect(await resolver.resolve(1, 'cars')).toEqual({ ok: true, value: undefined });
    expect(loads).toEqual([1]);
    now = 1000;
    expect(await resolver.resolve(1, 'cars')).toEqual({ ok: true, value: '2-77' });
    expect(loads).toEqual([1, 1]);
  });

  it('passes a failed read on as a value', async () => {
    const resolver = createObjectTypeResolver({ load: async () => ({ ok: false, failure: 'client', status: 403, message: 'missing scopes', body: {} }) });
    expect(await resolver.resolve(1, 'p_cars')).toMatchObject({ ok: false, status: 403 });
    // HubSpot's own names stand without the schemas.
    expect(await resolver.resolve(1, 'deals')).toEqual({ ok: true, value: 'deals' });
  });
});

describe('jobs resolved at start', () => {
  const resolver = createObjectTypeResolver({ load: async () => ({ ok: true, value: [PROJECTS] }) });
  const job = (name: string, objectType: string, associations?: string[]) => ({
    ...configSchema.parse({ hubspot: { accounts: [{ portalId: 1, accessToken: 'pat-x' }] }, jobs: [{ name, portalId: 1, objectType }] }).jobs[0]!,
    ...(associations ? { associations } : {}),
  });

  it('key every type as the mirror does, and default associations to the standard pairs among the portal\'s jobs', async () => {
    const jobs = await resolveJobTypes([job('c', 'contact'), job('co', 'companies'), job('d', 'deals', ['CONTACT', 'p_projects']), job('p', 'p_projects', ['companies'])], resolver);
    expect(jobs.map((j) => [j.objectType, j.associations])).toEqual([
      ['contacts', ['companies', 'deals']],
      ['companies', ['contacts', 'deals']],
      ['deals', ['contacts', '2-3465']],
      ['2-3465', ['companies']],
    ]);
  });

  it('default associations only to the types mirrored in the job\'s own portal', async () => {
    const jobs = await resolveJobTypes([job('c', 'contacts'), { ...job('co', 'companies'), portalId: 2 }, { ...job('d', 'deals'), portalId: 2 }], resolver);
    expect(jobs.map((j) => [j.portalId, j.objectType, j.associations])).toEqual([
      [1, 'contacts', []],
      [2, 'companies', ['deals']],
      [2, 'deals', ['companies']],
    ]);
  });

  it('refuse a type the portal does not have, listing every one', async () => {
    await expect(resolveJobTypes([job('x', 'p_cars'), job('c', 'contacts', ['p_boats'])], resolver)).rejects.toThrow(
      /jobs\[0\]\.objectType: portal 1 has no object type "p_cars"[\s\S]*jobs\[1\]\.associations\[0\]: portal 1 has no object type "p_boats"/,
    );
  });
});
