import type { FastifyInstance } from 'fastify';

/** A request the stand-in answered: method, path with its query, the status sent, the parsed body. */
export interface Served {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

/**
 * A stand-in plugin that records every request it answered whose path starts with `prefix`.
 * Seen at the stand-in, so it sees hubsync's requests whatever HTTP client sent them (the
 * HubSpot client goes through its own keep-alive agent, not the global fetch).
 */
export function recordServed(into: Served[], prefix = '/'): (app: FastifyInstance) => void {
  return (app) => {
    app.addHook('onResponse', async (req, reply) => {
      if (req.url.startsWith(prefix)) into.push({ method: req.method, path: req.url, status: reply.statusCode, body: req.body });
    });
  };
}
