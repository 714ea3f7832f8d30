import { pino, type DestinationStream, type Logger } from 'pino';
import PinoPretty from 'pino-pretty';
import type { Config } from './config/schema.ts';

export type { Logger } from 'pino';

const CENSOR = '[REDACTED]';

/** Keys whose values are never logged, wherever they appear. */
const REDACT_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers["x-hubspot-signature"]',
  '*.headers["x-hubspot-signature-v3"]',
  '*.headers["x-paragon-signature"]',
  'accessToken',
  '*.accessToken',
  'clientSecret',
  '*.clientSecret',
  'signingKey',
  '*.signingKey',
  'webhookSecret',
  '*.webhookSecret',
  'password',
  '*.password',
  'token',
  '*.token',
];

/** Token shapes that must not reach the log even when nobody configured them (user JWTs, private-app tokens). */
const TOKEN_PATTERNS = [/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, /\bpat-[a-z0-9]{2,4}-[A-Za-z0-9-]{8,}/g];

export interface LoggerOptions {
  level?: string;
  pretty?: 'auto' | 'always' | 'never';
  /** Secret values to remove from every line, in any position (messages, stacks, nested errors). */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
  name?: string;
}

/**
 * The process logger: pino JSON lines to stdout (human-readable on a terminal when `pretty` is
 * auto), each key once. Secrets are removed twice over: by key (redact paths) and by value, on
 * the final line, so a token inside an error message or a stack trace is caught too.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty === 'always' || (options.pretty !== 'never' && !options.destination && process.stdout.isTTY);
  const sink: DestinationStream = pretty
    ? // One line per entry on a terminal too (the metrics line would otherwise fill the screen); errors keep their stacks.
      PinoPretty({ colorize: !options.destination, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination: options.destination ?? 1 })
    : (options.destination ?? pino.destination({ fd: 1, sync: false }));
  const redactor = createRedactor(options.secrets ?? []);
  return pino(
    {
      name: options.name ?? 'hubsync',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    { write: (line: string) => sink.write(redactor(withoutDuplicateKeys(line))) },
  );
}

/**
 * A log line with each key once. pino writes a child's bindings and the call's fields side by side,
 * so a key set at two levels (`module`, `portalId`) would appear twice, which JSON consumers read
 * differently; the innermost value (the last written) is kept, as JSON.parse does.
 */
function withoutDuplicateKeys(line: string): string {
  try {
    return `${JSON.stringify(JSON.parse(line))}\n`;
  } catch {
    return line;
  }
}

/** Returns a function that removes every secret (raw, JSON-escaped, and line by line for PEM keys) from a string. */
export function createRedactor(secrets: readonly string[]): (text: string) => string {
  const needles = [...new Set(secrets.flatMap(secretForms))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join(CENSOR);
    for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, (_match, prefix: string | undefined) => `${typeof prefix === 'string' ? prefix : ''}${CENSOR}`);
    return out;
  };
}

function secretForms(secret: string): string[] {
  if (secret.length < 4) return [];
  const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
  // A PEM key may be logged a line at a time, or with its newlines escaped.
  const normalised = secret.replace(/\\n/g, '\n');
  if (normalised.includes('-----BEGIN')) {
    for (const line of normalised.split('\n')) if (line.length >= 16 && !line.startsWith('-----')) forms.push(line);
  }
  return forms;
}

/** Every secret value the configuration holds, for the log redactor. */
export function configSecrets(config: Config): string[] {
  const secrets: string[] = [];
  for (const account of config.hubspot.accounts) secrets.push(account.accessToken);
  for (const app of config.hubspot.apps) secrets.push(app.clientSecret);
  if (config.hubspot.journal) secrets.push(config.hubspot.journal.clientSecret);
  if (config.paragon) secrets.push(config.paragon.signingKey, config.paragon.webhookSecret);
  secrets.push(config.metrics.token);
  if (config.database.url) {
    try {
      const password = decodeURIComponent(new URL(config.database.url).password);
      if (password) secrets.push(password);
    } catch {
      secrets.push(config.database.url);
    }
  }
  return secrets.filter((secret) => secret.length > 0);
}
