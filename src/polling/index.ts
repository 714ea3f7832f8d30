export { startBackfill } from './jobs.ts';
export { createPollingService } from './scheduler.ts';
export { pollingCollector } from './status.ts';
export { resolveJobTypes } from './job-types.ts';
