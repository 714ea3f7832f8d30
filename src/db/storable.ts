/** NUL and unpaired surrogates: valid in JS strings and JSON escapes, refused by Postgres text and jsonb. */
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** `value` with each NUL and unpaired surrogate replaced by U+FFFD, so that Postgres can store it. */
export function storableText(value: string): string {
  return UNSTORABLE.test(value) ? value.replace(UNSTORABLE_ALL, '\ufffd') : value;
}
