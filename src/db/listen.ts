/**
 * LISTEN on a channel, so a loop wakes when another session (or process) commits work for it
 * instead of at its next poll. A notification carries no work: the listener reads the table as
 * it would on a poll, and the poll stays as the fallback for anything a dropped connection missed.
 * Its payload may say something about the sender (a receiver's load).
 */
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Logger } from 'pino';

/** Stops listening. */
export type Unlisten = () => Promise<void>;

/**
 * Calls `onNotify` with the payload of each notification on `channel`, and once more (payload
 * empty) whenever listening (re)starts, since notifications sent while no one listened are lost. Never throws for a
 * connection problem: it retries with backoff, logging once when the connection is lost and once
 * when it is back, and the caller's poll covers the gap.
 */
export type Listen = (channel: string, onNotify: (payload: string) => void) => Promise<Unlisten>;

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/** Listening on Postgres: one dedicated connection (outside the pool), re-established when it drops. */
export function postgresListen(clientConfig: pg.ClientConfig, log?: Logger): Listen {
  return async (channel, onNotify) => {
    let closed = false;
    let current: pg.Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    let delay = RETRY_MIN_MS;
    /** Since the connection was lost (or the first one failed): said once when it starts, once when it ends. */
    let lostSince: number | undefined;

    const retry = () => {
      if (closed || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void connect();
      }, delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    };
    const connect = async () => {
      const client = new pg.Client(clientConfig);
      let dropped = false;
      const drop = (err?: Error) => {
        if (dropped) return;
        dropped = true;
        if (current === client) current = undefined;
        if (!closed && lostSince === undefined) {
          lostSince = Date.now();
          log?.warn({ err, channel }, 'database listener connection lost; polling until it is back');
        } else if (!closed) {
          log?.debug({ err, channel, retryInMs: delay }, 'database listener still cannot connect');
        }
        client.end().catch(() => undefined);
        retry();
      };
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      client.on('error', drop);
      client.on('end', () => drop());
      try {
        await client.connect();
        await client.query(`listen ${client.escapeIdentifier(channel)}`);
      } catch (err) {
        drop(err as Error);
        return;
      }
      if (closed) {
        await client.end().catch(() => undefined);
        return;
      }
      current = client;
      delay = RETRY_MIN_MS;
      if (lostSince !== undefined) {
        log?.info({ channel, lostForMs: Date.now() - lostSince }, 'database listener connection back');
        lostSince = undefined;
      }
      onNotify('');
    };

    await connect();
    return async () => {
      closed = true;
      clearTimeout(timer);
      await current?.end().catch(() => undefined);
    };
  };
}

/** Listening on the embedded database: its own notification hook (same process, same session). */
export function pgliteListen(pglite: PGlite): Listen {
  return async (channel, onNotify) => {
    const unlisten = await pglite.listen(channel, (payload) => onNotify(payload));
    onNotify('');
    return () => unlisten();
  };
}
