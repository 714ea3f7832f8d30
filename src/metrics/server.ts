/**
 * The operations port (`metrics.port`): `/healthz`, `/readyz` and `/metrics` on an address of
 * its own, unauthenticated, so that worker processes (which have no receiver) can be probed and
 * scraped too, and the public receiver need not serve metrics at all. Bind it to a private
 * interface (`metrics.host`, 127.0.0.1 by default).
 */
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { listenProblem } from '../errors.ts';
import type { Service } from '../loop.ts';
import { OPENMETRICS_CONTENT_TYPE, openMetricsText } from './openmetrics.ts';
import type { Metrics } from './registry.ts';

export interface OpsServerDeps {
  metrics: Metrics;
  log: Logger;
  host: string;
  port: number;
  /** The process's readiness: the database reachable, its heartbeat recent, its data fresh. */
  readiness: () => Promise<{ ok: boolean; reasons: string[] }>;
}

export function createOpsServer(deps: OpsServerDeps): Service & { address(): string | undefined } {
  const log = deps.log.child({ module: 'ops-http' });
  const app = Fastify({ loggerInstance: log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    const verdict = await deps.readiness().catch((err: unknown) => ({ ok: false, reasons: [`readiness check failed: ${(err as Error).message}`] }));
    return reply.code(verdict.ok ? 200 : 503).send(verdict);
  });
  app.get('/metrics', async (_request, reply) => reply.type(OPENMETRICS_CONTENT_TYPE).send(await openMetricsText(deps.metrics.peek())));
  let address: string | undefined;
  return {
    name: 'ops-http',
    address: () => address,
    async start() {
      try {
        address = await app.listen({ host: deps.host, port: deps.port });
      } catch (err) {
        throw listenProblem(err, `${deps.host}:${deps.port}`, 'metrics.port (or metrics.host)') ?? err;
      }
      log.info({ address }, 'operations port listening (/healthz, /readyz, /metrics)');
    },
    stop: () => app.close(),
  };
}
