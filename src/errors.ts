/**
 * hubsync's named errors. Each has a stable `code`; the CLI prints operator errors as one line
 * and exits with `exitCode`, never with a stack trace. Causes are always kept.
 */

export class HubsyncError extends Error {
  readonly code: string = 'HUBSYNC_ERROR';
  /** Exit status when this error ends a CLI command. */
  readonly exitCode: number = 1;
  /** Operator mistakes (bad config, schema behind) print as a message, not a stack. */
  readonly operatorError: boolean = false;
}

export class ConfigError extends HubsyncError {
  override readonly code = 'CONFIG_INVALID';
  override readonly exitCode = 2;
  override readonly operatorError = true;
  readonly problems: readonly string[];

  /** One problem is one line; several are one message with a line for each. */
  constructor(source: string, problems: readonly string[], options?: ErrorOptions) {
    const list = problems.map((problem) => `  - ${problem}`).join('\n');
    super(
      problems.length === 1 ? `invalid configuration in ${source}: ${problems[0]}` : `invalid configuration in ${source} (${problems.length} problems):\n${list}`,
      options,
    );
    this.problems = problems;
  }
}

export class UsageError extends HubsyncError {
  override readonly code = 'USAGE';
  override readonly exitCode = 2;
  override readonly operatorError = true;
}

export class SchemaBehindError extends HubsyncError {
  override readonly code = 'SCHEMA_BEHIND';
  override readonly operatorError = true;
}

/** A server could not listen where it was told to (port taken, not allowed, no such address). */
export class ListenError extends HubsyncError {
  override readonly code = 'LISTEN_FAILED';
  override readonly operatorError = true;
}

/** What a failed `listen` means for an operator; undefined for failures that are not their doing. */
export function listenProblem(err: unknown, where: string, key: string): ListenError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const reason =
    code === 'EADDRINUSE'
      ? 'the port is in use by another process'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? 'no such address on this machine'
          : undefined;
  return reason ? new ListenError(`cannot listen on ${where}: ${reason}; set ${key} to another`, { cause: err }) : undefined;
}

/** The embedded database's directory belongs to another running hubsync. */
export class DatabaseInUseError extends HubsyncError {
  override readonly code = 'DATABASE_IN_USE';
  override readonly operatorError = true;
}

export class DatabaseUnavailableError extends HubsyncError {
  override readonly code = 'DATABASE_UNAVAILABLE';
  override readonly operatorError = true;
}

/** Postgres SQLSTATE codes hubsync reacts to. */
export const SqlState = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
  undefinedTable: '42P01',
} as const;

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `non-error thrown: ${safeString(thrown)}`, { cause: thrown });
}

/** True for errors that mean "the database is not reachable right now" rather than a bug. */
export function isConnectionError(error: unknown): boolean {
  const err = error as { code?: unknown; message?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const code = typeof err.code === 'string' ? err.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  if (code === SqlState.adminShutdown || code === SqlState.cannotConnectNow || code === SqlState.queryCanceled) return true;
  if (code.startsWith('08')) return true; // connection exceptions
  const message = typeof err.message === 'string' ? err.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
