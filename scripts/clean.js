// Removes from dist/ what no source file makes any more (a module renamed or deleted), so
// that it is not published. Only such files go: dist/ is never missing, even while a build
// runs beside tests or a running coilmq that use it.
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
const src = path.join(root, 'src');

/** The module a file of dist/ was compiled from, without its extension. */
function moduleOf(file) {
  return file.replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
}

function clean(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      clean(p);
      if (readdirSync(p).length === 0) rmdirSync(p);
      continue;
    }
    const base = path.join(src, path.relative(dist, moduleOf(p)));
    if (!existsSync(`${base}.ts`) && !existsSync(`${base}.js`)) rmSync(p);
  }
}

clean(dist);
