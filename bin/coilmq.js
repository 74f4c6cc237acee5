#!/usr/bin/env node
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
  console.error(
    'coilmq: not built (no dist/). In a clone, run `npm install` (it builds) or `npm run build`; ' +
      'for a production install, install the package made by `npm pack`.',
  );
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
