import { describe, expect, it } from 'vitest';
import * as errors from '../../../src/errors.ts';

describe('errors', () => {
  it('gives every error class its own stable code', () => {
    const classes = (Object.values(errors) as unknown[]).filter(
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
});
