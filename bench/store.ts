/**
 * The SQLite store alone (src/store/sqlite.ts), on a fresh database in a temporary
 * directory per case, with synchronous=FULL unless the case says otherwise.
 *
 * write/<size>/batch<N>: a closed loop that adds N messages, calls sync and waits for it:
 *   one transaction (one fsync) per N messages. Rated in commits/s and messages/s.
 * write-inline/...: the same on a better-sqlite3 connection on the main thread (the
 *   design the store rejects): the baseline that shows what the writer thread is for.
 * write-normal/...: the store with synchronous=NORMAL (no fsync per commit in WAL).
 * read/<reads>/...: load() paging through 20,000 messages of 1 KiB, 100 at a time, with
 *   the store's read-only connection on the main thread ('main') or through the writer
 *   ('worker'); "+writes" adds a writer committing batches of 100 meanwhile.
 *
 * idle: the main thread only sleeping 1 ms at a time: the floor of the delay figures.
 *
 * For every case, the main thread's event-loop delay (perf_hooks.monitorEventLoopDelay,
 * 1 ms resolution) p99 and max, and its event-loop utilisation (the share of time it was
 * busy), while the case ran. The loop's own work (building messages, packing batches,
 * reading) counts too: that is what a broker sharing the thread would feel.
 *
 *   node --import tsx bench/store.ts              # all cases, about 25 s
 *   node --import tsx bench/store.ts batch100     # the cases whose name contains that
 *   BENCH_SECONDS=0.3 node --import tsx bench/store.ts
 *
 * It prints one JSON line per case, then a table. It does not go through bench/run.ts:
 * that harness times synchronous calls and reports frames/s and MB/s only, while these
 * cases are asynchronous and report commits, delays and utilisation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';
import type { StoredMessage } from '../src/store/store.js';
import { describeMachine, isMain, makeOptions, type BenchOptions } from './harness.js';

interface Result {
  case: string;
  seconds: number;
  /** Commits (write cases) or loads (read cases) per second. */
  opsPerSec: number;
  msgsPerSec: number;
  /** Decimal megabytes of message bodies per second. */
  mbPerSec: number;
  /** Mean time a commit took in the writer, in ms (write cases through the store). */
  commitMs?: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** Share of the time the main thread's event loop was busy, 0..1. */
  elu: number;
}

/** What a write case drives: the store, or the inline baseline. */
interface Writer {
  open(): Promise<unknown>;
  add(m: StoredMessage): void;
  sync(done: (err?: Error) => void): void;
  close(): Promise<void>;
}

/**
 * The baseline: the same schema and group commit (one transaction per event-loop turn),
 * committed on the main thread. Not a Store; only what the benchmark needs.
 */
class InlineWriter implements Writer {
  private db: Database.Database | undefined;
  private pending: StoredMessage[] = [];
  private callbacks: Array<(err?: Error) => void> = [];
  private scheduled = false;
  private commit: ((ms: StoredMessage[]) => void) | undefined;

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      'CREATE TABLE messages (seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL,' +
        ' headers TEXT NOT NULL, body BLOB NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0);' +
        ' CREATE INDEX messages_queue_seq ON messages (queue, seq);',
    );
    const insert = db.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)');
    this.commit = db.transaction((ms: StoredMessage[]) => {
      for (const m of ms) {
        insert.run(m.seq, m.queue, m.id, JSON.stringify(m.headers), m.body, m.deliveries);
      }
    });
    this.db = db;
  }

  add(m: StoredMessage): void {
    this.pending.push(m);
    this.schedule();
  }

  sync(done: (err?: Error) => void): void {
    this.callbacks.push(done);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const ms = this.pending;
      const cbs = this.callbacks;
      this.pending = [];
      this.callbacks = [];
      this.commit!(ms);
      for (const cb of cbs) cb();
    });
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}

const SIZES: ReadonlyArray<[label: string, bytes: number]> = [
  ['256B', 256],
  ['1KiB', 1024],
];
const BATCHES = [1, 10, 100, 1000];
/** A write case stops early once it has written this many body bytes. */
const WRITE_CAP_BYTES = 256 * 1024 * 1024;
const READ_BACKLOG = 20_000;
const READ_PAGE = 100;

function makeMessage(seq: number, queue: string, body: Buffer): StoredMessage {
  return {
    seq,
    id: `ID:bench-${seq}`,
    queue,
    headers: [
      'destination',
      `/queue/${queue}`,
      'content-type',
      'application/json',
      'content-length',
      String(body.length),
      'persistent',
      'true',
    ],
    body,
    deliveries: 0,
  };
}

function synced(w: Writer): Promise<void> {
  return new Promise((resolve, reject) => w.sync((err) => (err ? reject(err) : resolve())));
}

/** Times `step` (which does `msgs` messages' and `ops` operations' work) for `seconds`. */
async function timed(
  name: string,
  opts: BenchOptions,
  step: () => Promise<{ ops: number; msgs: number; bytes: number }>,
  capBytes = Infinity,
): Promise<Omit<Result, 'commitMs'>> {
  const warmEnd = performance.now() + opts.warmup * 1000;
  while (performance.now() < warmEnd) await step();

  const delay = monitorEventLoopDelay({ resolution: 1 });
  const elu0 = performance.eventLoopUtilization();
  delay.enable();
  const start = performance.now();
  const end = start + opts.seconds * 1000;
  let ops = 0;
  let msgs = 0;
  let bytes = 0;
  let now: number;
  do {
    const r = await step();
    ops += r.ops;
    msgs += r.msgs;
    bytes += r.bytes;
    now = performance.now();
  } while (now < end && bytes < capBytes);
  delay.disable();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const seconds = (now - start) / 1000;
  return {
    case: name,
    seconds: round(seconds, 3),
    opsPerSec: Math.round(ops / seconds),
    msgsPerSec: Math.round(msgs / seconds),
    mbPerSec: round(bytes / seconds / 1e6, 1),
    loopP99Ms: round(delay.percentile(99) / 1e6, 2),
    loopMaxMs: round(delay.max / 1e6, 2),
    elu: round(elu, 2),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'coilmq-bench-store-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function writeCase(
  name: string,
  opts: BenchOptions,
  size: number,
  batch: number,
  make: (path: string) => Writer,
): Promise<Result> {
  return withDir(async (dir) => {
    const writer = make(join(dir, 'store.db'));
    await writer.open();
    const body = Buffer.alloc(size, 'x');
    let seq = 0;
    const result = await timed(
      name,
      opts,
      async () => {
        for (let i = 0; i < batch; i++) writer.add(makeMessage(++seq, 'bench', body));
        await synced(writer);
        return { ops: 1, msgs: batch, bytes: batch * size };
      },
      WRITE_CAP_BYTES,
    );
    let commitMs: number | undefined;
    if (writer instanceof SqliteStore) {
      const s = writer.stats();
      commitMs = round(s.commitMs / s.batches, 3);
    }
    await writer.close();
    return { ...result, ...(commitMs !== undefined ? { commitMs } : {}) };
  });
}

async function readCase(
  name: string,
  opts: BenchOptions,
  reads: 'main' | 'worker',
  withWrites: boolean,
): Promise<Result> {
  return withDir(async (dir) => {
    const store = new SqliteStore({ path: join(dir, 'store.db'), reads });
    await store.open();
    const body = Buffer.alloc(1024, 'r');
    let seq = 0;
    for (let i = 0; i < READ_BACKLOG; i++) store.add(makeMessage(++seq, 'backlog', body));
    await synced(store);

    let writing = withWrites;
    const writes = (async () => {
      while (writing) {
        for (let i = 0; i < 100; i++) store.add(makeMessage(++seq, 'incoming', body));
        await synced(store);
      }
    })();

    let after = 0;
    const result = await timed(name, opts, async () => {
      // A load on the main thread resolves at once: yield, as a broker's loop would, so
      // that the loop-delay monitor sees each load's time (and not one endless turn).
      await new Promise((resolve) => setImmediate(resolve));
      const page = await store.load('backlog', after, READ_PAGE);
      after = page.length < READ_PAGE ? 0 : page[page.length - 1]!.seq;
      let bytes = 0;
      for (const m of page) bytes += m.body.length;
      return { ops: 1, msgs: page.length, bytes };
    });
    writing = false;
    await writes;
    await store.close();
    return result;
  });
}

export async function runStoreBench(
  opts: BenchOptions,
  report: (r: Result) => void,
): Promise<void> {
  const run = async (name: string, fn: () => Promise<Result>): Promise<void> => {
    if (!opts.include(`store/${name}`)) return;
    await new Promise((resolve) => setImmediate(resolve));
    report(await fn());
  };
  const store =
    (options: Omit<SqliteStoreOptions, 'path'> = {}) =>
    (path: string): Writer =>
      new SqliteStore({ ...options, path });

  await run('idle', async () => {
    const r = await timed('idle', opts, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { ops: 0, msgs: 0, bytes: 0 };
    });
    return r;
  });
  for (const [label, size] of SIZES) {
    for (const batch of BATCHES) {
      const name = `write/${label}/batch${batch}`;
      await run(name, () => writeCase(name, opts, size, batch, store()));
    }
  }
  for (const batch of BATCHES) {
    const name = `write-inline/1KiB/batch${batch}`;
    await run(name, () => writeCase(name, opts, 1024, batch, (path) => new InlineWriter(path)));
  }
  for (const batch of [1, 100]) {
    const name = `write-normal/1KiB/batch${batch}`;
    await run(name, () => writeCase(name, opts, 1024, batch, store({ synchronous: 'NORMAL' })));
  }
  for (const reads of ['main', 'worker'] as const) {
    for (const withWrites of [false, true]) {
      const name = `read/${reads}${withWrites ? '+writes' : ''}/1KiB/page${READ_PAGE}`;
      await run(name, () => readCase(name, opts, reads, withWrites));
    }
  }
}

function table(results: Result[]): string {
  const head = ['case', 'ops/s', 'msgs/s', 'MB/s', 'commit ms', 'loop p99 ms', 'loop max', 'ELU'];
  const n = (x: number): string => x.toLocaleString('en-US');
  const rows = results.map((r) => [
    `store/${r.case}`,
    n(r.opsPerSec),
    n(r.msgsPerSec),
    r.mbPerSec.toFixed(1),
    r.commitMs === undefined ? '-' : r.commitMs.toFixed(2),
    r.loopP99Ms.toFixed(2),
    r.loopMaxMs.toFixed(2),
    r.elu.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

if (isMain(import.meta.url)) {
  console.log(describeMachine());
  const opts = makeOptions(process.argv.slice(2));
  opts.warmup = Math.min(0.2, opts.seconds / 3);
  const results: Result[] = [];
  const started = performance.now();
  await runStoreBench(opts, (r) => {
    results.push(r);
    console.log(JSON.stringify(r));
  });
  console.log('\n' + table(results));
  console.log(`\n# ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
}
