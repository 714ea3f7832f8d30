/**
 * The embedded database is one session. Whoever holds this lock has it to themselves: the
 * daemon's Kysely connection for a statement or a whole transaction, or a client of the local
 * socket from its first message until the session is idle again (out of any transaction).
 * Waiters are served in arrival order.
 */
export class SessionLock {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves, once the session is ours, to the function that gives it back. */
  async acquire(): Promise<() => void> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => (release = resolve));
    await previous;
    return release;
  }
}
