/**
 * The little that every benchmark shares: a timed loop with warm-up, and reporting (a
 * table at the end, plus one JSON line per case as it finishes, for machines to read).
 *
 * A case is a function that does a fixed amount of work per call (say, parse one big
 * buffer of N frames). It is called for `warmup` seconds so the JIT settles on the shapes
 * the case uses, then repeatedly until `seconds` have passed, and rated by the work done
 * over the time taken. Measuring whole calls keeps the timer out of the hot loop.
 */
import { cpus } from 'node:os';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface BenchOptions {
  /** Seconds of timed work per case. */
  seconds: number;
  /** Seconds of untimed work per case before timing starts. */
  warmup: number;
  /** Which cases to run, by full name ("codec/parse/whole/256B"). */
  include: (fullName: string) => boolean;
}

export interface CaseResult {
  bench: string;
  case: string;
  frames: number;
  bytes: number;
  seconds: number;
  framesPerSec: number;
  /** Decimal megabytes (10^6 bytes) per second, of the wire bytes read or written. */
  mbPerSec: number;
}

/** What a benchmark gets: `case` times one case, if it is selected, and reports it. */
export interface BenchContext {
  readonly opts: BenchOptions;
  /**
   * Times `fn`, each call of which handles `frames` frames of `bytes` wire bytes in all.
   * Returns at once when the case is not selected.
   */
  case(name: string, frames: number, bytes: number, fn: () => void): Promise<void>;
}

/** A benchmark module's entry point. */
export type Benchmark = (ctx: BenchContext) => Promise<void>;

/**
 * Options from the environment and filters from the command line. A filter selects the
 * cases whose full name contains it; BENCH_SECONDS=0.2 makes a quick (noisier) run.
 */
export function makeOptions(filters: readonly string[]): BenchOptions {
  const s = Number(process.env.BENCH_SECONDS ?? '1');
  const seconds = Number.isFinite(s) && s > 0 ? s : 1;
  return {
    seconds,
    warmup: Math.min(0.3, seconds / 3),
    include: (name) => filters.length === 0 || filters.some((f) => name.includes(f)),
  };
}

export function makeContext(
  bench: string,
  opts: BenchOptions,
  report: (r: CaseResult) => void,
): BenchContext {
  return {
    opts,
    async case(name, frames, bytes, fn) {
      if (!opts.include(`${bench}/${name}`)) return;
      report(await measure(bench, name, opts, frames, bytes, fn));
    },
  };
}

/**
 * Yields to the event loop first, so output so far is flushed, then warms up and times.
 */
async function measure(
  bench: string,
  name: string,
  opts: BenchOptions,
  frames: number,
  bytes: number,
  fn: () => void,
): Promise<CaseResult> {
  await new Promise((resolve) => setImmediate(resolve));
  const warmEnd = performance.now() + opts.warmup * 1000;
  do fn();
  while (performance.now() < warmEnd);

  const start = performance.now();
  const end = start + opts.seconds * 1000;
  let calls = 0;
  let now: number;
  do {
    fn();
    calls++;
    now = performance.now();
  } while (now < end);
  const seconds = (now - start) / 1000;
  return {
    bench,
    case: name,
    frames: calls * frames,
    bytes: calls * bytes,
    seconds: round(seconds, 3),
    framesPerSec: Math.round((calls * frames) / seconds),
    mbPerSec: round((calls * bytes) / seconds / 1e6, 1),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function describeMachine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `# node ${process.version}, ${process.arch}, ${cpu}, ${cpus().length} CPUs`;
}

/** Collects results, printing each as a JSON line when it arrives and a table at the end. */
export class Reporter {
  readonly results: CaseResult[] = [];

  readonly report = (r: CaseResult): void => {
    this.results.push(r);
    console.log(JSON.stringify(r));
  };

  table(): string {
    const head = ['case', 'frames/s', 'MB/s'];
    const rows = this.results.map((r) => [
      `${r.bench}/${r.case}`,
      r.framesPerSec.toLocaleString('en-US'),
      r.mbPerSec.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string =>
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
  }
}

/** Runs one benchmark on its own and prints its table: for `node --import tsx bench/x.ts`. */
export async function runStandalone(name: string, bench: Benchmark): Promise<void> {
  console.log(describeMachine());
  const reporter = new Reporter();
  await bench(makeContext(name, makeOptions(process.argv.slice(2)), reporter.report));
  console.log('\n' + reporter.table());
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}
