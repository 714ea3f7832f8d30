import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/schema.ts';
import { journalScopes } from '../../../src/journal/subscriptions.ts';

describe("the journal token's scopes", () => {
  it("are the journal's own and each mirrored type's read scope, each once, in that order", () => {
    const jobs = ['contacts', 'companies', 'contacts', 'tickets', '2-3465', '2-9999'].map((objectType) => ({ objectType })) as unknown as Config['jobs'];
    const journal = { scopes: ['crm.objects.contacts.read', 'crm.lists.read'] } as unknown as NonNullable<Config['hubspot']['journal']>;
    expect(journalScopes({ jobs, hubspot: { journal } })).toEqual([
      'developer.webhooks_journal.read',
      'developer.webhooks_journal.subscriptions.read',
      'developer.webhooks_journal.subscriptions.write',
      'crm.objects.contacts.read',
      'crm.objects.companies.read',
      'tickets',
      'crm.objects.custom.read',
      'crm.lists.read',
    ]);
    expect(journalScopes({ jobs: [], hubspot: {} })).toEqual(['developer.webhooks_journal.read', 'developer.webhooks_journal.subscriptions.read', 'developer.webhooks_journal.subscriptions.write']);
  });
});
