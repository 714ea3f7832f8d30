/**
 * Ingest before processing. A receiver measures how busy it is (the share of the last quarter
 * second during which it had a webhook request in hand) and says so on the notification that wakes the
 * workers; while any receiver is flooded, a worker processes one batch at a time and rests
 * between batches, so acknowledgements stay fast. Receivers and workers share the database (and,
 * on one machine, the cores): a slow acknowledgement slows every sender that waits for it (HubSpot
 * keeps at most its concurrency limit of requests open and retries after 5 s), while the events
 * already stored wait safely. The worker catches up at full speed once the flood is over.
 */

/** Busy at least this share of a window: senders are waiting on the receiver most of the time. */
const FLOODED = 0.5;

/** How long one flooded report counts: receivers say it with every store, so a flood ends soon after the last. */
export const FLOOD_HOLD_MS = 1_000;

/**
 * The span a receiver's busy share is measured over: short, so a flood is told within a fraction
 * of a second; long beside a request (tens of milliseconds), so a steady trickle never looks like one.
 */
const WINDOW_MS = 250;

export interface ReceiverLoad {
  /** A webhook request is in hand (call `leave` when answered, whatever the outcome). */
  enter(): void;
  leave(): void;
  /** The share of the last completed window (a quarter of a second or more) with a request in hand, 0–1. */
  busy(): number;
}

/** A receiver's busy meter: time with at least one webhook request in hand, per window. */
export function receiverLoad(now: () => number = Date.now): ReceiverLoad {
  let inHand = 0;
  let busySince = 0;
  let busyMs = 0;
  let windowStart = now();
  let last = 0;
  return {
    enter() {
      if (inHand++ === 0) busySince = now();
    },
    leave() {
      if (--inHand === 0) busyMs += now() - busySince;
    },
    busy() {
      const at = now();
      if (at - windowStart >= WINDOW_MS) {
        const open = inHand > 0 ? at - busySince : 0;
        last = Math.min(1, (busyMs + open) / (at - windowStart));
        busyMs = 0;
        windowStart = at;
        if (inHand > 0) busySince = at;
      }
      return last;
    },
  };
}

/** The notification's payload for a receiver's busy share (what `floodWatch` reads). */
export function loadPayload(busy: number): string {
  return `busy=${busy.toFixed(2)}`;
}

export interface FloodWatch {
  /** A notification's payload (anything: an unknown or empty one says nothing about load). */
  heard(payload: string): void;
  /** Whether a receiver reported a flood within the last second. */
  flooded(): boolean;
}

/** The worker's view of its receivers' load, from notification payloads. */
export function floodWatch(now: () => number = Date.now): FloodWatch {
  let until = 0;
  return {
    heard(payload) {
      const busy = /^busy=([0-9.]+)$/.exec(payload)?.[1];
      if (busy !== undefined && Number(busy) >= FLOODED) until = now() + FLOOD_HOLD_MS;
    },
    flooded: () => now() < until,
  };
}

/**
 * How long to rest after a batch that took `workedMs`, so work is `share` of the time (0 for a
 * share of 1); a second at most, since a batch that waited on HubSpot reads took long without
 * using the cores.
 */
export function restAfter(workedMs: number, share: number): number {
  return share >= 1 ? 0 : Math.min(MAX_REST_MS, Math.round((workedMs * (1 - share)) / share));
}

const MAX_REST_MS = 1_000;
