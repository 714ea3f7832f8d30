import net from 'node:net';
import http from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';

const PORTAL = 62515;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function account(baseUrl: string, requestTimeoutMs: number) {
  const config = configSchema.parse({ hubspot: { baseUrl, requestTimeoutMs, accounts: [{ portalId: PORTAL, accessToken: 'pat-test' }] } }).hubspot;
  const accounts = createHubSpotAccounts(config, { log: pino({ level: 'silent' }), timeScale: 0.01 });
  closers.push(async () => accounts.close());
  return accounts.get(PORTAL)!;
}

describe('HubSpot calls on a connection that goes silent', () => {
  it('a call HubSpot never answers fails as a network error after hubspot.requestTimeoutMs, retried, not after minutes', async () => {
    const sockets = new Set<net.Socket>();
    let connections = 0;
    // Takes the request and sends nothing back, as a black-holed connection does.
    const server = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('data', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    closers.push(async () => {
      for (const socket of sockets) socket.destroy();
    });
    const result = await account(await listen(server), 200).propertyNames('contacts');
    expect(result).toMatchObject({ ok: false, failure: 'network', message: expect.stringMatching(/sent nothing for 200 ms/) });
    // The budget retried on fresh connections: the silent ones were closed.
    expect(connections).toBeGreaterThan(1);
  });

  it('an answer that keeps arriving, however slowly, is not cut', async () => {
    const body = JSON.stringify({ results: [{ name: 'email', label: 'Email', type: 'string', fieldType: 'text', groupName: 'contactinformation', options: [] }] });
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Ten chunks 100 ms apart: a second in all, never 200 ms silent.
      let sent = 0;
      const step = Math.ceil(body.length / 10);
      const timer = setInterval(() => {
        res.write(body.slice(sent, sent + step));
        sent += step;
        if (sent >= body.length) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
    });
    const result = await account(await listen(server), 200).propertyNames('contacts');
    expect(result).toEqual({ ok: true, value: ['email'] });
  });
});
