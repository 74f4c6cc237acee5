/**
 * Runs the benchmarks and prints a table of all their cases, after one JSON line per case.
 *
 *   npm run bench                          # everything
 *   npm run bench -- codec                 # the benchmarks whose name contains "codec"
 *   npm run bench -- codec/parse/whole     # only the cases whose full name contains that
 *   BENCH_SECONDS=0.2 npm run bench        # shorter timing per case (default 1 s)
 *
 * Each benchmark is a module exporting a {@link Benchmark}; add it to BENCHMARKS below.
 * Modules are imported only when selected, so one benchmark's setup costs nothing to
 * another's run.
 */
import { describeMachine, makeContext, makeOptions, Reporter, type Benchmark } from './harness.js';

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  codec: async () => (await import('./codec.js')).codec,
};

const filters = process.argv.slice(2);
const selected = Object.keys(BENCHMARKS).filter(
  (name) =>
    filters.length === 0 || filters.some((f) => name.includes(f) || f.startsWith(name + '/')),
);
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(' ')}; known: ${Object.keys(BENCHMARKS)}`);
  process.exit(2);
}

console.log(describeMachine());
const opts = makeOptions(filters);
const reporter = new Reporter();
for (const name of selected) {
  const bench = await BENCHMARKS[name]!();
  await bench(makeContext(name, opts, reporter.report));
}
console.log('\n' + reporter.table());
