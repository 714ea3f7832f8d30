import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { eventsFor, payloadOf } from '../../../src/outbox/source.ts';

const config = configSchema.parse({ outbox: { source: { table: 'contacts', user: 'owner_id', fields: { email: 'email', firstName: 'first_name' } } } }).outbox;

describe('payloadOf', () => {
  it('maps configured fields (missing columns become null), or passes the whole row', () => {
    expect(payloadOf({ email: 'a@example.com', first_name: 'Ada', secret: 'x' }, { email: 'email', firstName: 'first_name', phone: 'phone' })).toEqual({
      email: 'a@example.com',
      firstName: 'Ada',
      phone: null,
    });
    expect(payloadOf({ id: 1, email: 'a@example.com' }, {})).toEqual({ id: 1, email: 'a@example.com' });
  });
});

describe('eventsFor', () => {
  it('names first sightings "created", keys each version, orders per row, and skips rows without a user', () => {
    const rows = [
      { rowId: '1', cursorTs: 't', version: '1700000000000001', userId: 'u1', row: { email: 'a@example.com', first_name: 'A' } },
      { rowId: '2', cursorTs: 't', version: '1700000000000002', userId: 'u2', row: { email: 'b@example.com', first_name: 'B' } },
      { rowId: '3', cursorTs: 't', version: '1700000000000003', userId: null, row: { email: 'c@example.com' } },
    ];
    expect(eventsFor(rows, new Set(['1']), config.source!, config.events)).toEqual([
      { userId: 'u1', name: 'Contact Created', payload: { email: 'a@example.com', firstName: 'A' }, idempotencyKey: 'contacts:1:1700000000000001', orderingKey: 'contacts:1' },
      { userId: 'u2', name: 'Contact Updated', payload: { email: 'b@example.com', firstName: 'B' }, idempotencyKey: 'contacts:2:1700000000000002', orderingKey: 'contacts:2' },
    ]);
  });
});
