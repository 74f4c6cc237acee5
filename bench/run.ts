/**
 * Runs the benchmarks and prints a table of all their cases, after one JSON line per case.
 *
 *   npm run bench                          # everything
 *   npm run bench -- codec                 # the benchmarks whose name contains "codec"
 *   npm run bench -- output                # a session's write path alone (bench/output.ts)
 *   npm run bench -- codec/parse/whole     # only the cases whose full name contains that
 *   BENCH_SECONDS=0.2 npm run bench        # shorter timing per case (default 1 s)
 *   npm run bench -- broker                # the broker end to end (bench/broker.ts)
 *   npm run bench -- backlog               # its cases can be named without "broker/"
 *
 * Each benchmark is a module exporting a {@link Benchmark}; add it to BENCHMARKS below.
 * Modules are imported only when selected, so one benchmark's setup costs nothing to
 * another's run.
 */
import { describeMachine, makeContext, makeOptions, Reporter, type Benchmark } from './harness.js';

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  codec: async () => (await import('./codec.js')).codec,
  output: async () => (await import('./output.js')).output,
  broker: async () => (await import('./broker.js')).broker,
};

/**
 * Words in the case names of a benchmark, so that a filter naming a case selects its
 * benchmark without naming it ("backlog" runs broker/backlog-fill-drain).
 */
const CASE_WORDS: Record<string, readonly string[]> = {
  broker: [
    'persistent-receipt',
    'transient-queue',
    'backlog-fill-drain',
    'inproc',
    'alongside',
    'queue-4to4-client-individual',
    'topic-1to10',
    'latency-2000',
    'queue-1to1-64k',
    'relay-1to1',
    'idle-connections-2000',
    'slow-consumer-1g',
  ],
};

const filters = process.argv.slice(2);
const selected = Object.keys(BENCHMARKS).filter(
  (name) =>
    filters.length === 0 ||
    filters.some(
      (f) =>
        name.includes(f) ||
        f.startsWith(name + '/') ||
        (CASE_WORDS[name] ?? []).some((w) => w.includes(f) || f.includes(w)),
    ),
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
// Benchmarks with cases of their own kind (broker) print their own table.
if (reporter.results.length > 0) console.log('\n' + reporter.table());
