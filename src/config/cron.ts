import cron from 'node-cron';

/** Field names and ranges, six-field order (node-cron's: seconds first, optional). */
const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

/**
 * Why a cron expression is wrong, or undefined when it is right. node-cron's own validator checks
 * every value against its field's range; it lets a step pass that the range cannot hold
 * (`*\/61` in minutes runs once an hour, at :00, which nobody means), so steps are checked here.
 */
export function cronProblem(expression: string): string | undefined {
  const detailed = cron.validateDetailed(expression);
  if (!detailed.valid) {
    const first = detailed.errors[0];
    return first ? `not a cron expression (${first.message})` : 'not a cron expression';
  }
  const parts = expression.trim().split(/\s+/);
  if (parts.length < 5) return undefined; // a nickname: @hourly, @daily
  const fields = parts.length === 5 ? FIELDS.slice(1) : FIELDS;
  for (const [index, part] of parts.entries()) {
    const field = fields[index]!;
    for (const token of part.split(',')) {
      const step = /\/(\d+)$/.exec(token)?.[1];
      if (step !== undefined && Number(step) > field.max - field.min) {
        return `not a cron expression (${field.name} step /${step} is larger than its range ${field.min}-${field.max})`;
      }
    }
  }
  return undefined;
}
