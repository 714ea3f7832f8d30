/**
 * Depth of untrusted JSON, measured on the raw bytes in one pass without recursion, so that a
 * hostile body nested thousands of levels deep is found before anything recursive (JSON.stringify,
 * Postgres' jsonb input) meets it. JSON.parse itself is iterative in V8, so it may see such a body.
 */

/** Deeper than this, a value is refused: HubSpot's events are two levels deep, workflow and Paragon posts a few more. */
export const MAX_JSON_DEPTH = 64;

export interface JsonShape {
  /** Deepest nesting in the whole body (a scalar is 0, `[]` is 1). */
  depth: number;
  /** When the body is an array: each element's byte range and depth. */
  elements: { start: number; end: number; depth: number }[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const COMMA = 0x2c;
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Scans JSON bytes (UTF-8: bytes of multi-byte characters never look like ASCII punctuation).
 * It does not validate: malformed input gives some shape, and JSON.parse refuses it afterwards.
 */
export function jsonShape(body: Uint8Array): JsonShape {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  const topArray = firstSignificant(body) === 0x5b;
  const elements: JsonShape['elements'] = [];
  let element: { start: number; end: number; depth: number } | undefined;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (SPACE.has(byte)) continue;
    if (topArray && depth === 1 && byte !== COMMA && !CLOSE.has(byte) && !element) {
      element = { start: i, end: i, depth: 0 };
      elements.push(element);
    }
    if (byte === QUOTE) inString = true;
    else if (OPEN.has(byte)) {
      depth++;
      deepest = Math.max(deepest, depth);
      if (element) element.depth = Math.max(element.depth, depth - 1);
    } else if (CLOSE.has(byte)) {
      depth--;
      if (topArray && depth === 0 && element) {
        element.end = lastSignificantBefore(body, i);
        element = undefined;
      }
    } else if (byte === COMMA && topArray && depth === 1 && element) {
      element.end = lastSignificantBefore(body, i);
      element = undefined;
    }
  }
  return { depth: deepest, elements };
}

function firstSignificant(body: Uint8Array): number | undefined {
  for (const byte of body) if (!SPACE.has(byte)) return byte;
  return undefined;
}

/** End (exclusive) of the last non-space byte before `index`. */
function lastSignificantBefore(body: Uint8Array, index: number): number {
  let end = index;
  while (end > 0 && SPACE.has(body[end - 1]!)) end--;
  return end;
}
