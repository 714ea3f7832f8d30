import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: unknown;
  at: number;
}

export type Responder = (req: Received, index: number) => { status: number; delayMs?: number };

/** A throwaway webhook receiver that records raw bodies and answers as told (default 204). */
export async function startReceiver(responder: Responder = () => ({ status: 204 })) {
  const received: Received[] = [];
  let respond = responder;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: Received = { url: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')), at: Date.now() };
      received.push(r);
      const { status, delayMs = 0 } = respond(r, received.length - 1);
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    setResponder: (r: Responder) => { respond = r; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
