import { describe, expect, it } from 'vitest';
import * as migrate from '../../../src/db/migrate.ts';
import * as errors from '../../../src/errors.ts';
import * as triggers from '../../../src/paragon/triggers.ts';
import * as passes from '../../../src/polling/passes.ts';

describe('errors', () => {
  it('gives every error class its own stable code', () => {
    // Every module that declares an error class.
    const classes = [errors, migrate, triggers, passes].flatMap((module) => Object.values(module) as unknown[]).filter(
      (value): value is new (...args: unknown[]) => errors.HubsyncError =>
        typeof value === 'function' && value.prototype instanceof errors.HubsyncError,
    );
    expect(classes.length).toBeGreaterThan(4);
    const codes = classes.map((Class) => new Class('x', []).code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('coerces anything thrown into an Error and keeps the original', () => {
    const error = errors.coerceError({ status: 500 });
    expect(error).toBeInstanceOf(Error);
    expect(error.cause).toEqual({ status: 500 });
    expect(errors.isConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(errors.isConnectionError(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
  });

  it('says in one sentence why a server could not listen, and which key to change', () => {
    const at = (code: string) => errors.listenProblem(Object.assign(new Error(code), { code }), '0.0.0.0:80', 'http.port')?.message;
    expect(at('EADDRINUSE')).toBe('cannot listen on 0.0.0.0:80: the port is in use by another process; set http.port to another');
    expect(at('EACCES')).toBe('cannot listen on 0.0.0.0:80: permission denied (ports below 1024 need privileges); set http.port to another');
    expect(at('EADDRNOTAVAIL')).toMatch(/no such address/);
    expect(at('ECONNRESET')).toBeUndefined();
  });
});
