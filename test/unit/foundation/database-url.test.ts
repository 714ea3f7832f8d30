import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { postgresTarget } from '../../../src/db/index.ts';

describe('database URLs', () => {
  it('finds host, port and database in the forms pg accepts, Unix sockets included, never the password', () => {
    expect(postgresTarget('postgres://u:secret@db.example.com:6543/app?sslmode=require')).toEqual({ host: 'db.example.com', port: '6543', database: 'app' });
    expect(postgresTarget('postgres://u:secret@/app?host=/var/run/postgresql')).toEqual({ host: '/var/run/postgresql', port: '', database: 'app' });
    expect(postgresTarget('socket:/var/run/postgresql?db=app&user=postgres')).toEqual({ host: '/var/run/postgresql', port: '', database: 'app' });
    expect(JSON.stringify(postgresTarget('postgresql://u:secret@localhost/app'))).not.toContain('secret');
  });

  it('refuses what is not a Postgres URL, naming the key', () => {
    expect(() => loadConfig('database: { url: "mysql://x@y/z" }\n', {})).toThrow(/database\.url: not a Postgres URL/);
  });
});
