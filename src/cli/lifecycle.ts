import type { Logger } from 'pino';
import type { Service } from '../loop.ts';

export interface ShutdownOptions {
  log: Logger;
  /** Hard limit for a graceful stop; Heroku sends SIGKILL 30 s after SIGTERM. */
  graceMs?: number;
  /** How a finished stop ends the process (a CLI may return the code instead). */
  exit?: (code: number) => void;
}

/**
 * Runs `stop` on the first SIGTERM/SIGINT and exits 0 when it resolves; exits 1 if it throws.
 * If it takes longer than `graceMs`, or a second signal comes, the process exits at once.
 */
export function handleSignals(stop: () => Promise<void>, options: ShutdownOptions): () => void {
  const { log, graceMs = 25_000, exit = (code: number) => process.exit(code) } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      // For real, whatever is still running (`exit` may only return a code).
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight work');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'graceful shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        clearTimeout(timer);
        log.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** Starts services in order; stops them in reverse order, each failure logged, none skipped. */
export async function startAll(services: readonly Service[], log: Logger): Promise<() => Promise<void>> {
  const started: Service[] = [];
  const stopAll = async () => {
    for (const service of [...started].reverse()) {
      try {
        await service.stop();
        log.debug({ service: service.name }, 'service stopped');
      } catch (err) {
        log.error({ err, service: service.name }, 'service failed to stop cleanly');
      }
    }
  };
  try {
    for (const service of services) {
      await service.start();
      started.push(service);
      log.debug({ service: service.name }, 'service started');
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
