// Removes dist/ before a build, so that nothing of a renamed or deleted source file is left
// in it to be published.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
