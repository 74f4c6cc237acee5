// npm runs `prepare` after `npm install` in a clone of coilmq, and before `npm pack`: it
// builds dist/. An install without dev dependencies (`npm ci --omit=dev`) has no TypeScript
// to build with; rather than fail, it says where a built copy comes from (README,
// "Installing for production").
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('typescript');
} catch {
  console.error(
    'coilmq: TypeScript is not installed (dev dependencies omitted), so dist/ is not built. ' +
      'For a production install, install the package made by `npm pack` (README, ' +
      '"Installing for production").',
  );
  process.exit(0);
}
// The npm that runs this script, whatever the platform calls it.
const npm = process.env.npm_execpath;
if (npm !== undefined) execFileSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' });
else execFileSync('npm', ['run', 'build'], { stdio: 'inherit', shell: true });
