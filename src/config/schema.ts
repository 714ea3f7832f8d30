import { z } from 'zod';
import { objectTypeName, objectTypeProblem } from '../hubspot/object-types.ts';
import { cronProblem } from './cron.ts';

/**
 * The configuration file's shape. Every key is documented in README.md ("Configuration");
 * keep the two in step. Numbers accept strings of digits so that `${PORT}`-style references
 * work, and nothing else: `true`, `null` or `""` where a number belongs is a mistake.
 */

/** A number, or text that is exactly one (environment references are text). */
function numeric<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value), schema);
}

const port = numeric(z.number().int().min(0).max(65535));
const positiveInt = numeric(z.number().int().positive());
const nonNegativeInt = numeric(z.number().int().min(0));
const share = numeric(z.number().min(0).max(1));

const cronExpression = z.string().superRefine((value, ctx) => {
  const problem = cronProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const httpUrl = z.url({ protocol: /^https?$/, message: 'not an http(s) URL' });

/** Rate-limit tiers from HubSpot's published table (requests per rolling 10 s, per day). */
export const TIERS = {
  free: { windowLimit: 100, dailyLimit: 250_000 },
  starter: { windowLimit: 100, dailyLimit: 250_000 },
  professional: { windowLimit: 190, dailyLimit: 625_000 },
  enterprise: { windowLimit: 190, dailyLimit: 1_000_000 },
  'api-limit-increase': { windowLimit: 250, dailyLimit: 2_000_000 },
  oauth: { windowLimit: 110, dailyLimit: null },
} as const satisfies Record<string, { windowLimit: number; dailyLimit: number | null }>;

export type Tier = keyof typeof TIERS;

const databaseSchema = z
  .object({
    /** Empty: the embedded database (PGlite) in `embeddedDir`. */
    url: z
      .string()
      .regex(/^$|^(postgres|postgresql|socket):/, 'not a Postgres URL (postgres://user:password@host:5432/database)')
      .default(''),
    embeddedDir: z.string().default('./data'),
    poolSize: positiveInt.default(10),
    statementTimeoutMs: positiveInt.default(15_000),
    /** auto: TLS without certificate verification for non-local hosts (Heroku Postgres), none locally. */
    ssl: z.enum(['auto', 'disable', 'no-verify', 'verify']).default('auto'),
    /** Prepare the mirror's hot statements once per connection; off behind a transaction-mode PgBouncer older than 1.21. */
    preparedStatements: z.boolean().default(true),
  })
  .strict();

const httpSchema = z
  .object({
    port: port.default(3000),
    host: z.string().default('0.0.0.0'),
    /** The public base URL HubSpot calls (scheme and host): needed for v2/v3 signatures behind a proxy. */
    publicUrl: z.union([z.literal(''), httpUrl]).default(''),
    /** Take the public scheme and host from X-Forwarded-Proto / X-Forwarded-Host (Heroku router, nginx). */
    trustProxy: z.boolean().default(false),
    bodyLimitBytes: positiveInt.default(1_048_576),
    /** On shutdown, answer 503 with `Connection: close` this long (or until no connection is open) before closing. */
    drainMs: nonNegativeInt.default(2000),
  })
  .strict();

const hubspotAppSchema = z
  .object({
    appId: positiveInt,
    clientSecret: z.string().min(1),
  })
  .strict();

const hubspotAccountSchema = z
  .object({
    portalId: positiveInt,
    accessToken: z.string().min(1),
    tier: z.enum(Object.keys(TIERS) as [Tier, ...Tier[]]).default('professional'),
    /** Overrides of the tier's numbers; the live X-HubSpot-RateLimit-* headers narrow them further. */
    windowLimit: positiveInt.optional(),
    windowMs: positiveInt.default(10_000),
    dailyLimit: positiveInt.optional(),
    searchPerSecond: positiveInt.default(5),
    /** Share of the window hubsync may use, leaving room for other integrations on the same token. */
    budgetShare: numeric(z.number().gt(0).max(1)).default(0.9),
    timeZone: z.string().default('UTC'),
  })
  .strict();

const adaptiveSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Coverage (share of changes webhooks delivered) above which polls may stretch. */
    minCoverage: share.default(0.99),
    maxIntervalSeconds: positiveInt.default(1800),
  })
  .strict();

const journalConditionSchema = z
  .object({
    property: z.string().min(1),
    operator: z.enum(['EQ', 'N_EQ', 'LT', 'GT', 'LTE', 'GTE', 'CONTAINS', 'STARTS_WITH', 'ENDS_WITH', 'IN', 'NOT_IN', 'IS_EMPTY', 'IS_NOT_EMPTY']),
    value: z.string().optional(),
    values: z.array(z.string()).optional(),
  })
  .strict();

const journalSchema = z
  .object({
    /** The public app's client credentials: the journal authenticates as the app, not as an account. */
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    /** `global`: one journal for every account that installed the app; `local`: one per configured account. */
    variant: z.enum(['global', 'local']).default('global'),
    /** Where a journal read for the first time starts: the oldest entry kept (three days) or the newest. */
    start: z.enum(['earliest', 'latest']).default('earliest'),
    apiVersion: z.string().regex(/^\d{4}-\d{2}(-beta)?$/, 'a date version like 2026-03').default('2026-03'),
    /** Default `<hubspot.baseUrl>/oauth/v1/token`. */
    tokenUrl: httpUrl.optional(),
    /** Scopes requested besides the journal's own and the object types' read scopes. */
    scopes: z.array(z.string().min(1)).default([]),
    /** How long to wait when caught up. */
    pollIntervalMs: positiveInt.default(1000),
    /** Entries per `batch/{offset}/next/{count}` read (HubSpot's maximum is 100). */
    batchSize: z.coerce.number().int().min(1).max(100).default(100),
    downloadConcurrency: positiveInt.default(4),
    requestTimeoutMs: positiveInt.default(15_000),
    /** The lease that keeps each journal on one worker. */
    leaseSeconds: positiveInt.default(30),
    subscriptions: z
      .object({
        /** Keep the subscriptions as configured (at start and every `syncIntervalSeconds`); off: leave them to someone else. */
        manage: z.boolean().default(true),
        associations: z.boolean().default(true),
        privacyDeletions: z.boolean().default(true),
        appLifecycle: z.boolean().default(true),
        /** Per object type, filters (ORed) of conditions (ANDed) on creations and updates. */
        filters: z.record(z.string(), z.array(z.array(journalConditionSchema).min(1))).default({}),
        syncIntervalSeconds: nonNegativeInt.default(3600),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** A CRM v3 type name, a singular (`contact`) or a type id (`0-1`); held as the type name (`contacts`). */
const objectTypeString = z
  .string()
  .superRefine((value, ctx) => {
    const problem = objectTypeProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform(objectTypeName);

const jobSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'letters, digits, - and _ only'),
    portalId: positiveInt,
    /** A CRM v3 type name, a singular (`contact`) or a type id (`0-1`); held as the type name (`contacts`). */
    objectType: objectTypeString,
    /**
     * Types whose associations are read with every object this job reads, and swept; default: the
     * standard pairs among the portal's jobs' types. Resolved (custom names too) at start.
     */
    associations: z.array(objectTypeString).optional(),
    /** Sweep of the job's mirrored objects (re-read, their associations, records gone for good); `off` for none. */
    associationSweep: z.union([z.literal('off'), cronExpression]).default('30 3 * * *'),
    /** A list of property names, or "all". */
    properties: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all'),
    schedule: cronExpression.default('*/2 * * * *'),
    lookbackSeconds: nonNegativeInt.default(120),
    archivedSweep: cronExpression.optional(),
    /** /readyz fails when the job's newest successful run is older than this. */
    freshnessSeconds: positiveInt.optional(),
    pageSize: numeric(z.number().int().min(1).max(200)).default(200),
    /** A running job holds a lease this long, renewed every third of it; a dead worker's lease expires. */
    leaseSeconds: positiveInt.default(60),
    adaptive: adaptiveSchema.prefault({}),
  })
  .strict();

const webhooksSchema = z
  .object({
    /** Maximum age (and future skew) of a v3 signature timestamp. */
    maxSignatureAgeSeconds: positiveInt.default(300),
    /** Budget for storing a request; past it the answer is 503 (senders give up after 5 s). */
    storeTimeoutMs: positiveInt.default(4000),
    processBatchSize: positiveInt.default(500),
    processIntervalMs: positiveInt.default(250),
    /**
     * Batches a worker has in flight at once (lanes), each its own transaction and connection, each
     * taking its own share of the objects first: one batch's planning in the worker overlaps
     * another's statements in the database, and their mirror writes do not wait for each other.
     */
    processConcurrency: positiveInt.default(3),
    /**
     * While a receiver reports a flood (a webhook request in hand most of the last second), a
     * worker runs one batch at a time and works this share of the time, resting between batches,
     * so acknowledgements stay fast (flood.ts); 1: never rests.
     */
    floodShare: numeric(z.number().gt(0).max(1)).default(0.25),
    /** A claimed batch not finished within this returns to the queue (a worker died). */
    leaseSeconds: positiveInt.default(120),
    maxAttempts: positiveInt.default(10),
    /** Processing retries back off exponentially from the base to the cap, with jitter. */
    backoffBaseMs: positiveInt.default(1000),
    backoffMaxMs: positiveInt.default(10 * 60_000),
    /** Processed events are deleted once received this long ago (0: kept forever). Failed ones stay. */
    retentionHours: nonNegativeInt.default(168),
  })
  .strict();

const triggerSchema = z
  .object({
    user: z.string().min(1),
    integration: z.string().min(1),
    type: z.string().min(1),
    parameters: z.record(z.string(), z.unknown()).default({}),
    credentialId: z.string().optional(),
    /** The user's HubSpot portal, passed to the receiver in the subscription's webhook URL and metadata (webhooks carry no portal id). */
    portalId: positiveInt.optional(),
    /**
     * The trigger's identity among its user's subscriptions; default `integration:type[:credentialId]`.
     * Give two triggers of one type (different parameters) their own keys.
     */
    key: z.string().min(1).max(200).optional(),
  })
  .strict()
  .transform((t) => ({ ...t, key: t.key ?? [t.integration, t.type, t.credentialId].filter(Boolean).join(':') }));

const paragonSchema = z
  .object({
    projectId: z.string().min(1),
    /** PEM private key (RS256); `\n` escapes are accepted. */
    signingKey: z.string().min(1),
    webhookSecret: z.string().default(''),
    baseUrl: httpUrl.default('https://api.useparagon.com'),
    actionKitUrl: httpUrl.default('https://actionkit.useparagon.com'),
    tokenTtlSeconds: positiveInt.default(3600),
    triggers: z.array(triggerSchema).default([]),
    /** The worker re-syncs trigger subscriptions this often (and once at start); 0: only at start. */
    triggersSyncIntervalSeconds: nonNegativeInt.default(3600),
  })
  .strict()
  .superRefine((paragon, ctx) => {
    // hubsync identifies a user's subscriptions by the trigger's key: one trigger per key.
    const seen = new Set<string>();
    paragon.triggers.forEach((t, index) => {
      const key = `${t.user}\u0000${t.key}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['triggers', index], message: `duplicate trigger "${t.key}" for user "${t.user}" (give triggers of one type their own key)` });
      seen.add(key);
    });
  });

const outboxSourceSchema = z
  .object({
    table: z.string().regex(/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/i, 'a table name'),
    id: z.string().default('id'),
    updatedAt: z.string().default('updated_at'),
    user: z.string().min(1),
    fields: z.record(z.string(), z.string()).default({}),
    pollIntervalMs: positiveInt.default(1000),
    batchSize: positiveInt.default(500),
    /** Rows are read a second time once this old, catching transactions that committed late. */
    lookbackMs: nonNegativeInt.default(30_000),
  })
  .strict();

const outboxSchema = z
  .object({
    source: outboxSourceSchema.optional(),
    events: z
      .object({ created: z.string().default('Contact Created'), updated: z.string().default('Contact Updated') })
      .strict()
      .prefault({}),
    maxAttempts: positiveInt.default(12),
    batchSize: positiveInt.default(50),
    pollIntervalMs: positiveInt.default(500),
    backoffBaseMs: positiveInt.default(1000),
    backoffMaxMs: positiveInt.default(15 * 60_000),
    requestTimeoutMs: positiveInt.default(10_000),
    /** Deliveries in flight at once, per worker process. */
    concurrency: positiveInt.default(8),
    /**
     * How long claimed rows stay reserved for one worker; a worker that dies mid-delivery holds
     * them this long. Default: a whole batch timing out at `requestTimeoutMs`, plus 30 s.
     */
    leaseMs: positiveInt.optional(),
    /** Sent rows are deleted after this long (0: kept forever). */
    sentRetentionHours: nonNegativeInt.default(168),
  })
  .strict();

const ledgerSchema = z
  .object({
    /** Ledger rows of changes older than this are deleted (0: kept for ever). */
    retentionHours: nonNegativeInt.default(720),
  })
  .strict();

const verifySchema = z
  .object({
    /** The worker samples HubSpot against the mirror this often (`mirror.drift`); 0: never. */
    intervalMinutes: nonNegativeInt.default(0),
    /** Records sampled per job and run. */
    sample: positiveInt.default(200),
  })
  .strict();

const metricsSchema = z
  .object({
    intervalSeconds: numeric(z.number().positive()).default(60),
    format: z.enum(['json', 'l2met']).default('json'),
    source: z.string().default('hubsync'),
    /** `GET /metrics` on the public receiver, for requests with `Authorization: Bearer <token>`; empty: not served there. */
    token: z.string().default(''),
    /** A separate, unauthenticated HTTP port with /healthz, /readyz and /metrics (worker processes too); 0: none. */
    port: port.default(0),
    host: z.string().default('127.0.0.1'),
  })
  .strict();

const logSchema = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    pretty: z.enum(['auto', 'always', 'never']).default('auto'),
  })
  .strict();

const sandboxOptionsSchema = z
  .object({
    /** A stand-in already running (`hubsync sandbox`): use it instead of starting one in this process. */
    url: z.union([z.literal(''), httpUrl]).default(''),
    port: port.default(0),
    seed: nonNegativeInt.default(1),
    timeScale: numeric(z.number().positive()).default(1),
    /** A change every this many ms in the stand-in (0: none after the initial data). */
    streamIntervalMs: nonNegativeInt.default(2000),
    /** Changes made at once when webhook delivery starts. */
    initialChanges: nonNegativeInt.default(100),
    /** Webhook faults the stand-in injects, to show what polling recovers. */
    webhookDropRate: share.default(0),
    webhookDuplicateRate: share.default(0),
  })
  .strict();

export const configSchema = z
  .object({
    /** Run the built-in HubSpot/Paragon stand-in and point every client at it. */
    sandbox: z.boolean().default(false),
    sandboxOptions: sandboxOptionsSchema.prefault({}),
    database: databaseSchema.prefault({}),
    http: httpSchema.prefault({}),
    hubspot: z
      .object({
        baseUrl: httpUrl.default('https://api.hubapi.com'),
        /** A call whose connection carries nothing for this long fails as a network error (and is retried). */
        requestTimeoutMs: positiveInt.default(30_000),
        apps: z.array(hubspotAppSchema).default([]),
        accounts: z.array(hubspotAccountSchema).default([]),
        /** The Webhooks Journal, the third path; off when absent. */
        journal: journalSchema.optional(),
      })
      .strict()
      .prefault({}),
    jobs: z.array(jobSchema).default([]),
    webhooks: webhooksSchema.prefault({}),
    paragon: paragonSchema.optional(),
    outbox: outboxSchema.prefault({}),
    ledger: ledgerSchema.prefault({}),
    verify: verifySchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    log: logSchema.prefault({}),
  })
  .strict()
  // `when`: run even when another key is bad, so one error lists every problem.
  .superRefine(
    (config, ctx) => {
      for (const problem of crossKeyProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
    },
    { when: () => true },
  );

/**
 * Checks that span keys: duplicate job names, jobs whose portal has no account. Defensive about
 * its input, because it also runs on a configuration that failed validation elsewhere.
 */
function crossKeyProblems(config: unknown): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const c = (config ?? {}) as { sandbox?: unknown; hubspot?: { accounts?: unknown }; jobs?: unknown };
  const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.filter((v) => v !== null && typeof v === 'object') : []);
  // A portal id that is itself wrong has its own message; it is not also a missing account.
  const portalOf = (value: unknown) => (typeof value === 'number' || typeof value === 'string' ? Number(value) : NaN);
  const accountPortals = list(c.hubspot?.accounts).map((account) => portalOf(account.portalId));
  const portals = new Set(accountPortals);
  const accountsValid = accountPortals.every((portal) => Number.isSafeInteger(portal) && portal > 0);
  const names = new Set<unknown>();
  (Array.isArray(c.jobs) ? c.jobs : []).forEach((job: unknown, index) => {
    if (job === null || typeof job !== 'object') return;
    const { name, portalId } = job as { name?: unknown; portalId?: unknown };
    if (typeof name === 'string' && names.has(name)) problems.push({ path: ['jobs', index, 'name'], message: `duplicate job name "${name}"` });
    names.add(name);
    const portal = portalOf(portalId);
    if (c.sandbox !== true && accountsValid && Number.isSafeInteger(portal) && portal > 0 && !portals.has(portal)) {
      problems.push({ path: ['jobs', index, 'portalId'], message: `no hubspot.accounts entry for portal ${String(portalId)}` });
    }
  });
  return problems;
}

export type Config = z.output<typeof configSchema>;
export type DatabaseConfig = Config['database'];
export type WebhooksConfig = Config['webhooks'];
export type HubSpotAccountConfig = Config['hubspot']['accounts'][number];
export type JobConfig = Config['jobs'][number];
export type JournalConfig = NonNullable<Config['hubspot']['journal']>;
export type ParagonConfig = NonNullable<Config['paragon']>;
export type OutboxConfig = Config['outbox'];
export type MetricsConfig = Config['metrics'];
export type VerifyConfig = Config['verify'];
