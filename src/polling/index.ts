export { runJob, startBackfill, leaseName, type PollDeps, type RunKind, type RunOutcome } from './jobs.ts';
export { createPollingService, workerId, type PollingService, type PollingServiceOptions } from './scheduler.ts';
export { pollingCollector, pollingStatus, type JobStatus } from './status.ts';
