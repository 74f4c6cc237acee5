import { readFileSync } from 'node:fs';

/** coilmq's version, from package.json (CONNECTED's `server` header, `coilmq --version`). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
