/**
 * The embedded database served on a Unix socket in its data directory, so that other hubsync
 * commands and `psql -h <dir>` reach the running daemon's database instead of opening the
 * directory a second time. Postgres' wire protocol passes through to PGlite; what this adds is
 * turn-taking with the daemon (the SessionLock): a client holds the one session from its first
 * message until the session is idle again, so a client's transaction is never interleaved with
 * the daemon's statements, nor the other way round. A client idle inside a transaction for longer
 * than the idle limit (10 s) is rolled back and disconnected, as Postgres'
 * idle_in_transaction_session_timeout would, because meanwhile the daemon waits.
 *
 * PGlite is one session in this thread, and some input stops it for good (its WebAssembly
 * program exits, and every later statement of the daemon spins for ever): a message type
 * Postgres does not know, and COPY from the client or from a program, which read input PGlite's
 * single-call exchanges cannot give them. Those are answered here, as errors, and never reach it.
 *
 * (@electric-sql/pglite-socket does the same framing, but its queue only orders its own clients:
 * a statement of the daemon could land inside a client's transaction; COPY FROM STDIN stops
 * PGlite there too. It also pins one exact PGlite release.)
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

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** Postgres' own limits: a startup packet, and any other message (PQ_LARGE_MESSAGE_LIMIT). */
const MAX_STARTUP_LENGTH = 10_000;
const MAX_MESSAGE_LENGTH = 0x3fffffff;

/** The message types a Postgres backend accepts after startup (Terminate is handled here). */
const FRONTEND_TYPES = new Set([...'QPBEFCDHSdcf'].map((c) => c.charCodeAt(0)));

/**
 * COPY whose data would come from the client (`FROM STDIN`, psql's `\copy … from`), from a
 * program, or from PGlite's blob device: each stops PGlite. Matched loosely (comments and line
 * breaks anywhere between the words): a false match costs an error, a miss the database.
 */
const COPY_PGLITE_CANNOT_SERVE = /\bcopy\b[\s\S]*(?:\bstdin\b|\bprogram\b|\/dev\/blob)/i;

/** Replaces such a COPY, so that PGlite itself answers with the error in its protocol state (failed transaction, skip to Sync). */
const REFUSED_COPY =
  "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = 'COPY from the client or a program is not available on the embedded database socket (it would stop the embedded database)', HINT = 'insert the rows with INSERT, or read with COPY … TO STDOUT'; END$$";

export interface SessionServer {
  path: string;
  close(): Promise<void>;
}

export interface SessionServerOptions {
  /** How long a client may sit idle holding the session (inside a transaction) before it is rolled back and disconnected. */
  idleInTransactionMs?: number;
  /** PGlite stopped (its program exited): nothing can use it any more, and a further statement would never return. */
  onFatal?: (err: Error) => void;
}

/** Listens on `path` (owner-only: 0600) and serves the PGlite session to each client in turn. */
export async function serveSession(
  pglite: PGlite,
  lock: SessionLock,
  path: string,
  log: Pick<Logger, 'warn' | 'debug' | 'error'>,
  options: SessionServerOptions = {},
): Promise<SessionServer> {
  const clients = new Set<Client>();
  const settings = { idleInTransactionMs: options.idleInTransactionMs ?? 10_000, onFatal: options.onFatal ?? (() => undefined) };
  const server = net.createServer((socket) => {
    const client = new Client(socket, pglite, lock, log, settings);
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
  readonly #log: Pick<Logger, 'warn' | 'debug' | 'error'>;
  readonly #settings: Required<SessionServerOptions>;
  /** Bytes received and not yet framed: joined into one Buffer only once the next message can be whole. */
  #buffer = Buffer.alloc(0);
  #received: Buffer[] = [];
  #receivedBytes = 0;
  /** How many bytes the next message needs, as far as its header says (0: unknown yet). */
  #need = 0;
  #started = false;
  #release: (() => void) | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Messages are handled one after another, in order. */
  #work: Promise<void> = Promise.resolve();
  #ended = false;
  #fatal = false;

  constructor(socket: net.Socket, pglite: PGlite, lock: SessionLock, log: Pick<Logger, 'warn' | 'debug' | 'error'>, settings: Required<SessionServerOptions>) {
    this.#socket = socket;
    this.#pglite = pglite;
    this.#lock = lock;
    this.#log = log;
    this.#settings = settings;
    socket.on('data', (data) => {
      this.#received.push(data);
      this.#receivedBytes += data.length;
      this.#work = this.#work.then(() => this.#drain()).catch((err: unknown) => this.#fail(err));
    });
    socket.on('error', () => void this.end());
    socket.on('close', () => void this.end());
  }

  /**
   * Ends the connection. A client that leaves while holding the session (inside a transaction,
   * or part-way through an extended-protocol exchange) has its work rolled back, as a backend
   * that loses its client would, before the session is given back: otherwise the daemon's next
   * Sync would commit it, or, after an error, the daemon's next statement would be skipped.
   */
  async end(): Promise<void> {
    if (this.#ended) return this.#work;
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    this.#socket.destroy();
    await this.#work.catch(() => undefined);
    if (!this.#release) return;
    if (!this.#fatal) {
      await this.#exec(Buffer.concat([simpleQuery('ROLLBACK'), SYNC]))
        .then((reply) => (readyStatus(reply) === 'I' ? undefined : this.#exec(simpleQuery('ROLLBACK'))))
        .catch((err: unknown) => this.#log.warn({ err }, 'could not roll back what a client of the embedded database socket left'));
    }
    this.#giveBack();
  }

  async #drain(): Promise<void> {
    for (;;) {
      if (this.#ended) return;
      // A large message arrives in many chunks: they are joined once it is all here, not once per chunk.
      if (this.#buffer.length + this.#receivedBytes < this.#need) return;
      if (this.#received.length > 0) {
        this.#buffer = Buffer.concat([this.#buffer, ...this.#received]);
        this.#received = [];
        this.#receivedBytes = 0;
      }
      const framed = this.#started ? typedMessage(this.#buffer) : startupMessage(this.#buffer);
      if (framed === 'invalid') return this.#refuse('invalid message length');
      if (typeof framed === 'number') {
        this.#need = framed;
        return;
      }
      this.#need = 0;
      this.#buffer = this.#buffer.subarray(framed.length);
      await this.#handle(framed);
    }
  }

  async #handle(message: Buffer): Promise<void> {
    if (!this.#started) {
      const code = message.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) return void this.#socket.write('N');
      // No backend process to signal; the protocol expects no answer.
      if (code === CANCEL_REQUEST) return void this.end();
      if (code !== PROTOCOL_3) return this.#refuse(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: only 3.0 is served`);
      this.#started = true;
    } else if (message[0] === 0x58) {
      // Terminate.
      return void this.end();
    } else if (!FRONTEND_TYPES.has(message[0]!)) {
      return this.#refuse(`invalid frontend message type ${message[0]}`);
    }
    clearTimeout(this.#idleTimer);
    this.#release ??= await this.#lock.acquire();
    const reply = await this.#exec(screened(message));
    if (!this.#socket.destroyed) this.#socket.write(reply);
    const status = readyStatus(reply);
    // Inside a transaction, or (no ReadyForQuery yet) part-way through an extended-protocol exchange: the session stays held.
    if (status === 'I') this.#giveBack();
    else this.#watchIdle();
  }

  async #exec(message: Uint8Array): Promise<Uint8Array> {
    try {
      return await this.#pglite.runExclusive(() => this.#pglite.execProtocolRaw(message));
    } catch (err) {
      // An Emscripten ExitStatus: the program is gone, and so is the session.
      if ((err as Error | undefined)?.name === 'ExitStatus') {
        this.#fatal = true;
        this.#log.error({ err }, 'the embedded database stopped while serving a client of its socket');
        this.#settings.onFatal(err as Error);
      }
      throw err;
    }
  }

  /** A protocol violation: a FATAL error, as a backend would send, and the connection closed. */
  #refuse(reason: string): void {
    if (!this.#socket.destroyed) this.#socket.write(errorResponse('FATAL', '08P01', reason));
    void this.end();
  }

  /** Holding the session while idle stalls the daemon: past the limit, roll back and disconnect. */
  #watchIdle(): void {
    const idleMs = this.#settings.idleInTransactionMs;
    this.#idleTimer = setTimeout(() => {
      this.#log.warn({ idleMs }, 'a client of the embedded database socket sat idle holding the session: rolled back and disconnected');
      void this.end();
    }, idleMs);
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

/** A whole untyped startup-phase message (length first), or the bytes it needs until it has arrived, or 'invalid'. */
function startupMessage(buffer: Buffer): Buffer | 'invalid' | number {
  if (buffer.length < 4) return 4;
  const length = buffer.readInt32BE(0);
  if (length < 8 || length > MAX_STARTUP_LENGTH) return 'invalid';
  return buffer.length >= length ? buffer.subarray(0, length) : length;
}

/** A whole typed message (type byte, then a length that counts itself), or the bytes it needs until it has arrived, or 'invalid'. */
function typedMessage(buffer: Buffer): Buffer | 'invalid' | number {
  if (buffer.length < 5) return 5;
  const length = buffer.readInt32BE(1);
  if (length < 4 || length > MAX_MESSAGE_LENGTH) return 'invalid';
  return buffer.length >= 1 + length ? buffer.subarray(0, 1 + length) : 1 + length;
}

/** The message to hand to PGlite: a Query or Parse holding a COPY it cannot serve gets the refusal's text instead. */
function screened(message: Buffer): Buffer {
  const type = message[0];
  if (type === 0x51) {
    const text = cString(message, 5);
    return COPY_PGLITE_CANNOT_SERVE.test(text.value) ? simpleQuery(REFUSED_COPY) : message;
  }
  if (type === 0x50) {
    const name = cString(message, 5);
    const text = cString(message, name.end + 1);
    if (!COPY_PGLITE_CANNOT_SERVE.test(text.value)) return message;
    // The statement keeps its name, so a Bind of it fails as the COPY's would; no parameter types.
    return typed(0x50, Buffer.concat([Buffer.from(`${name.value}\0${REFUSED_COPY}\0`, 'utf8'), Buffer.alloc(2)]));
  }
  return message;
}

function cString(message: Buffer, from: number): { value: string; end: number } {
  const end = message.indexOf(0, from);
  const stop = end === -1 ? message.length : end;
  return { value: message.toString('utf8', from, stop), end: stop };
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

function typed(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

const SYNC = typed(0x53, Buffer.alloc(0));

function simpleQuery(text: string): Buffer {
  return typed(0x51, Buffer.from(`${text}\0`, 'utf8'));
}

function errorResponse(severity: string, code: string, message: string): Buffer {
  return typed(0x45, Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, 'utf8'));
}
