import { readFileSync } from 'node:fs';

/** hubsync's version, from package.json (`--version`, each process's heartbeat row). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
