/**
 * The embedded database served on a Unix socket in its data directory, so that other hubsync
 * commands and `psql -h <dir>` reach the running daemon's database instead of opening the
 * directory a second time. Postgres' wire protocol passes through to PGlite unchanged; what this
 * adds is turn-taking with the daemon (the SessionLock): a client holds the one session from its
 * first message until the session is idle again, so a client's transaction is never interleaved
 * with the daemon's statements, nor the other way round. A client idle inside a transaction for
 * longer than IDLE_IN_TRANSACTION_MS is rolled back and disconnected, as Postgres'
 * idle_in_transaction_session_timeout would, because meanwhile the daemon waits.
 *
 * (@electric-sql/pglite-socket does the same framing, but its queue only orders its own clients:
 * a statement of the daemon could land inside a client's transaction. It also pins one exact
 * PGlite release.)
 */
import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import type { SessionLock } from './session-lock.ts';

/** The file name libpq and node-postgres look for in a socket directory (`psql -h <dir>`), port 5432. */
export const SOCKET_NAME = '.s.PGSQL.5432';

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

const IDLE_IN_TRANSACTION_MS = 10_000;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

export interface SessionServer {
  path: string;
  close(): Promise<void>;
}

/** Listens on `path` (owner-only: 0600) and serves the PGlite session to each client in turn. */
export async function serveSession(pglite: PGlite, lock: SessionLock, path: string, log: Pick<Logger, 'warn' | 'debug'>): Promise<SessionServer> {
  const clients = new Set<Client>();
  const server = net.createServer((socket) => {
    const client = new Client(socket, pglite, lock, log);
    clients.add(client);
    socket.once('close', () => clients.delete(client));
  });
  // A socket file left by a daemon that died; the caller holds the directory lock, so it is ours to replace.
  await rm(path, { force: true });
  // Created owner-only from the start, not made so a moment later.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  return {
    path,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...clients].map((client) => client.end()));
      await closed;
      await rm(path, { force: true });
    },
  };
}

/** One client connection: frames its messages, takes turns on the session, gives it back when idle. */
class Client {
  readonly #socket: net.Socket;
  readonly #pglite: PGlite;
  readonly #lock: SessionLock;
  readonly #log: Pick<Logger, 'warn' | 'debug'>;
  #buffer = Buffer.alloc(0);
  #started = false;
  #release: (() => void) | undefined;
  /** Inside a transaction (the last ReadyForQuery said T or E). */
  #inTransaction = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Messages are handled one after another, in order. */
  #work: Promise<void> = Promise.resolve();
  #ended = false;

  constructor(socket: net.Socket, pglite: PGlite, lock: SessionLock, log: Pick<Logger, 'warn' | 'debug'>) {
    this.#socket = socket;
    this.#pglite = pglite;
    this.#lock = lock;
    this.#log = log;
    socket.on('data', (data) => {
      this.#buffer = Buffer.concat([this.#buffer, data]);
      this.#work = this.#work.then(() => this.#drain()).catch((err: unknown) => this.#fail(err));
    });
    socket.on('error', () => void this.end());
    socket.on('close', () => void this.end());
  }

  /** Ends the connection: a transaction it left open is rolled back, and the session given back. */
  async end(): Promise<void> {
    if (this.#ended) return this.#work;
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    this.#socket.destroy();
    await this.#work.catch(() => undefined);
    if (this.#release) {
      if (this.#inTransaction) await this.#exec(simpleQuery('ROLLBACK')).catch(() => undefined);
      this.#giveBack();
    }
  }

  async #drain(): Promise<void> {
    for (;;) {
      if (this.#ended) return;
      const message = this.#started ? typedMessage(this.#buffer) : startupMessage(this.#buffer);
      if (!message) return;
      this.#buffer = this.#buffer.subarray(message.length);
      await this.#handle(message);
    }
  }

  async #handle(message: Buffer): Promise<void> {
    if (!this.#started) {
      const code = message.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) return void this.#socket.write('N');
      // No backend process to signal; the protocol expects no answer.
      if (code === CANCEL_REQUEST) return void this.end();
      if (code !== PROTOCOL_3) return void this.end();
      this.#started = true;
    } else if (message[0] === 0x58) {
      // Terminate.
      return void this.end();
    }
    clearTimeout(this.#idleTimer);
    this.#release ??= await this.#lock.acquire();
    const reply = await this.#exec(message);
    if (!this.#socket.destroyed) this.#socket.write(reply);
    const status = readyStatus(reply);
    if (status === undefined) return this.#watchIdle(); // mid-way through an extended-protocol exchange
    this.#inTransaction = status !== 'I';
    if (this.#inTransaction) this.#watchIdle();
    else this.#giveBack();
  }

  #exec(message: Uint8Array): Promise<Uint8Array> {
    return this.#pglite.runExclusive(() => this.#pglite.execProtocolRaw(message));
  }

  /** Holding the session while idle stalls the daemon: past the limit, roll back and disconnect. */
  #watchIdle(): void {
    this.#idleTimer = setTimeout(() => {
      this.#log.warn({ idleMs: IDLE_IN_TRANSACTION_MS }, 'a client of the embedded database socket sat idle holding the session: rolled back and disconnected');
      void this.end();
    }, IDLE_IN_TRANSACTION_MS);
  }

  #giveBack(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  #fail(err: unknown): void {
    this.#log.debug({ err }, 'embedded database socket client failed');
    void this.end();
  }
}

/** A whole untyped startup-phase message (length first), or undefined until it has arrived. */
function startupMessage(buffer: Buffer): Buffer | undefined {
  if (buffer.length < 8) return undefined;
  const length = buffer.readInt32BE(0);
  return buffer.length >= length ? buffer.subarray(0, length) : undefined;
}

/** A whole typed message (type byte, then a length that counts itself), or undefined until it has arrived. */
function typedMessage(buffer: Buffer): Buffer | undefined {
  if (buffer.length < 5) return undefined;
  const length = 1 + buffer.readInt32BE(1);
  return buffer.length >= length ? buffer.subarray(0, length) : undefined;
}

/** The transaction status of the last ReadyForQuery in a reply (I, T or E), if it has one. */
function readyStatus(reply: Uint8Array): string | undefined {
  const bytes = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  let status: string | undefined;
  for (let at = 0; at + 5 <= bytes.length; at += 1 + bytes.readInt32BE(at + 1)) {
    if (bytes[at] === 0x5a) status = String.fromCharCode(bytes[at + 5]!);
  }
  return status;
}

function simpleQuery(text: string): Buffer {
  const body = Buffer.from(`${text}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = 0x51;
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}
