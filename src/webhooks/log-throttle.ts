/**
 * At most one log line per key per interval, so a flood of forged or broken requests cannot flood
 * the log; the next line that gets through says how many were held back. Pure apart from `emit`.
 */
export function logThrottle(intervalMs: number, now: () => number): (key: string, emit: (suppressed: number) => void) => void {
  const windows = new Map<string, { until: number; suppressed: number }>();
  return (key, emit) => {
    const at = now();
    const window = windows.get(key);
    if (window && at < window.until) {
      window.suppressed += 1;
      return;
    }
    if (windows.size > 1000) windows.clear(); // keys come from a small set; this only bounds memory against surprises
    windows.set(key, { until: at + intervalMs, suppressed: 0 });
    emit(window?.suppressed ?? 0);
  };
}
