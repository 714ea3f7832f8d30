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
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Scans JSON bytes (UTF-8: bytes of multi-byte characters never look like ASCII punctuation).
 * It does not validate: malformed input gives some shape, and JSON.parse refuses it afterwards.
 * Strings are skipped with the native `indexOf`, which keeps the scan far cheaper than the parse.
 */
export function jsonShape(body: Uint8Array): JsonShape {
  let depth = 0;
  let deepest = 0;
  let first = 0;
  while (first < body.length && isSpace(body[first]!)) first++;
  const topArray = body[first] === OPEN_ARRAY;
  const elements: JsonShape['elements'] = [];
  let element: { start: number; end: number; depth: number } | undefined;
  for (let i = first; i < body.length; i++) {
    const byte = body[i]!;
    if (isSpace(byte)) continue;
    if (topArray && depth === 1 && byte !== COMMA && byte !== CLOSE_ARRAY && byte !== CLOSE_OBJECT && !element) {
      element = { start: i, end: i, depth: 0 };
      elements.push(element);
    }
    switch (byte) {
      case QUOTE:
        i = stringEnd(body, i);
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        depth++;
        if (depth > deepest) deepest = depth;
        if (element && depth - 1 > element.depth) element.depth = depth - 1;
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        depth--;
        if (topArray && depth === 0 && element) {
          element.end = lastSignificantBefore(body, i);
          element = undefined;
        }
        break;
      case COMMA:
        if (topArray && depth === 1 && element) {
          element.end = lastSignificantBefore(body, i);
          element = undefined;
        }
        break;
    }
  }
  return { depth: deepest, elements };
}

/** Index of the quote closing the string that opens at `open` (or the last byte, if it never closes). */
function stringEnd(body: Uint8Array, open: number): number {
  let at = open;
  for (;;) {
    at = body.indexOf(QUOTE, at + 1);
    if (at === -1) return body.length - 1;
    let slashes = 0;
    while (body[at - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return at;
  }
}

/** End (exclusive) of the last non-space byte before `index`. */
function lastSignificantBefore(body: Uint8Array, index: number): number {
  let end = index;
  while (end > 0 && isSpace(body[end - 1]!)) end--;
  return end;
}
