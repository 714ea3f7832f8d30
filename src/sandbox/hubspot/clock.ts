/**
 * Wall time plus a time scale. Every duration the sandbox enforces (rate windows, index lag, webhook timeouts and
 * retry delays, the daily reset) is written in HubSpot's real units and passed through `scale`, so 0.01 makes a
 * 10-second window last 100 ms without changing any ratio.
 */
export interface Clock {
  now(): number;
  readonly timeScale: number;
  scale(realMs: number): number;
}

export function createClock(timeScale = 1, now: () => number = Date.now): Clock {
  if (!(timeScale > 0)) throw new Error(`timeScale must be > 0, got ${timeScale}`);
  return {
    now,
    timeScale,
    scale: (realMs) => Math.max(1, Math.round(realMs * timeScale)),
  };
}
