/**
 * Tests that drive a program from Debian's packages (Chromium, stomp.py, openssl). On a
 * machine without it they are skipped, with a reason naming the package to install, so that
 * `npm test` on a fresh clone with only Node is green. With TEST_REQUIRE_ALL=1 (`.ci/run`
 * sets it) nothing is skipped: a missing program fails its tests, so CI always runs them all.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PROGRAMS = {
  chromium: { what: '/usr/bin/chromium', present: () => existsSync('/usr/bin/chromium') },
  'python3-stomp': {
    what: "stomp.py under /usr/bin/python3 ('import stomp')",
    present: () => runs('/usr/bin/python3', ['-c', 'import stomp']),
  },
  openssl: { what: 'the openssl command', present: () => runs('openssl', ['version']) },
} as const;

export type DebianPackage = keyof typeof PROGRAMS;

function runs(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const known = new Map<DebianPackage, boolean>();

/**
 * Options for describe() or test(): `{ skip: reason }` when a package the tests need is
 * missing, unless TEST_REQUIRE_ALL=1; else `{}`.
 */
export function needs(...packages: DebianPackage[]): { skip?: string } {
  if (process.env.TEST_REQUIRE_ALL === '1') return {};
  for (const p of packages) {
    let present = known.get(p);
    if (present === undefined) known.set(p, (present = PROGRAMS[p].present()));
    if (!present) return { skip: `needs ${PROGRAMS[p].what}: apt-get install ${p}` };
  }
  return {};
}
