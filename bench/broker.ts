/**
 * The broker under load, end to end over loopback TCP: STOMP frames written by hand on raw
 * sockets (bench/broker-load.ts), the broker in a process of its own (the real binary,
 * `node bin/coilmq.js`, so its CPU and memory are its own), measured from outside: its
 * CPU from /proc/PID/stat, its RSS from /proc/PID/status (VmRSS sampled every 50 ms, and
 * VmHWM, the kernel's peak).
 *
 * Cases (names as in the classic stomp-benchmark; 256 B bodies unless named):
 *
 *   persistent-receipt-1p/wN   1 producer, persistent SEND to a queue with a receipt per
 *                              message, N unreceipted in flight (w1: wait for each); a
 *                              consumer drains the queue meanwhile (auto ack). Receipts/s,
 *                              receipt latency (write to RECEIPT) p50/p99/max, consumed/s.
 *   persistent-receipt-10p/wN  the same with 10 producers, N in flight each.
 *   .../no-consumer            the same with no consumer, so that every message is written:
 *                              with one, a message consumed before its batch commits never
 *                              reaches the disk (the store coalesces its add and remove).
 *   transient-queue-1to1       1 producer -> 1 consumer, persistent:false (no persistent
 *                              header on RabbitMQ, where that is the default), auto ack;
 *                              counted at the consumer; the producer keeps at most 1000
 *                              messages ahead of it (BENCH_TRANSIENT_WINDOW). Latency is from
 *                              the send to the consumer's read.
 *   queue-4to4-client-individual
 *                              4 producers -> 4 consumers on one queue, transient as above,
 *                              client-individual acks (an ACK per message, prefetch
 *                              window/4 each); counted at the consumers.
 *   topic-1to10                1 producer -> 10 subscribers on one topic; deliveries counted
 *                              across the subscribers (msgs/s is messages received).
 *   latency-2000               1 -> 1 queue at a fixed 2,000 msg/s (a 1 ms timer sends what
 *                              is due), after a burst of 50,000 messages at full speed (so
 *                              that a JIT-compiled broker is measured warm, as a long-running
 *                              one is); latency from each message's write (the time is in
 *                              its body) to its arrival: p50, p99, p999, max.
 *   queue-1to1-64k             1 -> 1 queue, 64 KiB bodies, 64 in flight.
 *   idle-connections-2000      2,000 idle connections (CONNECT with heart-beat:10000,10000,
 *                              a newline every 5 s), opened 100 at a time: the broker's RSS
 *                              per connection, (RSS with them open, once it settles - RSS
 *                              before) / 2,000, as rssPerConnKiB (coilmq: PASS/FAIL against
 *                              16 KiB); then .../queue-1to1: the transient-queue-1to1 flow
 *                              while they stay open.
 *   slow-consumer-1g           16,384 x 64 KiB (1 GiB) transient messages into a queue whose
 *                              one consumer reads slowly (its socket paused 40 ms of every
 *                              50 ms), the producer as fast as its socket takes them: the
 *                              broker's peak RSS (peakBrokerRssMB; coilmq: PASS/FAIL
 *                              against 256 MB), the time and rate. At most 180 s.
 *   relay-1to1                 the physical limit: the 1 -> 1 flow (256 B, 1000 in flight)
 *                              through a minimal Node TCP relay (a process of its own that
 *                              pipes the producer's bytes to the consumer), then the same
 *                              flow through coilmq (relay-1to1/coilmq, with its fraction of
 *                              the relay's rate). coilmq only.
 *   relay-latency-2000         the same at a fixed 2,000 msg/s (latency-2000's flow): the
 *                              latency floor of this load generator and loopback, then
 *                              coilmq's. coilmq only.
 *   backlog-fill-drain         N x 1 KiB persistent messages into a queue with no consumer
 *                              (a receipt on every 1000th), the broker stopped (SIGTERM) and
 *                              started again on the same data, then drained by one consumer
 *                              (client-individual acks, prefetch 1000), checking that every
 *                              message comes back once, in order. Fill and drain rates, the
 *                              broker's peak RSS in each phase, PASS/FAIL against 300 MB.
 *   .../inproc                 the broker in this process (startBroker with a SqliteStore)
 *                              and the load generator in a child process, to measure the
 *                              broker's own event-loop delay (monitorEventLoopDelay at 1 ms
 *                              resolution: it records the time between its 1 ms timer's
 *                              runs, so an idle loop shows about 1 ms), its event-loop
 *                              utilisation, and the store's commits. CPU and RSS are then
 *                              this whole process's (the broker, its writer thread, tsx).
 *   transient-queue-1to1/alongside-persistent-10p/inproc
 *                              the transient 1 -> 1 flow alone, then while the 10-producer
 *                              persistent load runs on other connections: does it keep
 *                              flowing (rate, longest gap, latency), and the loop delay.
 *
 * Environment:
 *   BENCH_BROKER_SECONDS=5    measured seconds per case (after BENCH_BROKER_WARMUP=1)
 *   BENCH_MAX_MESSAGES=2e7    most messages a case sends (a bound, above what 6 s carry)
 *   BENCH_BACKLOG=N           backlog size; default 1,000,000 when a filter names the
 *                             backlog case (`npm run bench -- backlog`), else 100,000
 *   BENCH_BACKLOG_SECONDS=300 time bound of each backlog phase (fill, drain)
 *   BENCH_TRANSIENT_WINDOW=1000  transient messages in flight (sent, not yet received)
 *   BENCH_BROKER_ARGS="..."   extra flags for the coilmq binary (e.g. "--store memory")
 *   BENCH_BROKER_PROF=DIR     run the broker with --cpu-prof into DIR/<case>/ and print the
 *                             functions with the most self time after each case
 *   BENCH_TARGET=host:port    run the cases against a broker already running there instead
 *                             (RabbitMQ's STOMP plugin, say): no restart in the backlog case,
 *                             no in-process cases. BENCH_TARGET_PID=PID to measure its CPU
 *                             and RSS; BENCH_LOGIN, BENCH_PASSCODE, BENCH_VHOST for CONNECT
 *                             (default guest, guest, /).
 *
 *   npm run bench -- broker                   # every case (about 80 s)
 *   npm run bench -- persistent-receipt-1p    # the cases whose name contains that
 *   npm run bench -- backlog                  # the million-message backlog
 *   node --import tsx bench/broker.ts [filters]
 *
 * The binary runs from dist/: it is rebuilt first when src/ is newer. The machine has two
 * cores here: the load generator and the broker share them (see genCpu and brokerCpu).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { startBroker } from '../src/index.js';
import { SqliteStore, type SqliteStoreStats } from '../src/store/sqlite.js';
import {
  backlogDrain,
  backlogFill,
  flow,
  freshQueue,
  persistentReceipt,
  purgeQueue,
  transientQueue,
  type ChildOrder,
  type ChildReport,
  type FlowParams,
  type Hooks,
  type Limits,
  type PersistentParams,
  type PhaseFigures,
  type ScenarioResult,
  type Target,
  type TransientParams,
} from './broker-load.js';
import { checkOpenFiles, idleConnections, slowConsumer } from './broker-memory.js';
import { summarizeProfiles } from './broker-profile.js';
import { describeMachine, isMain, type Benchmark } from './harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'coilmq.js');
const LOAD_MODULE = fileURLToPath(new URL('./broker-load.ts', import.meta.url));
const RSS_LIMIT_MB = 300;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: not a positive number`);
  return n;
}

interface Config {
  limits: Limits;
  backlog: number;
  backlogMs: number;
  /** Most transient messages sent and not yet received. */
  transientWindow: number;
  brokerArgs: string[];
  profDir: string | undefined;
  /** Another broker to measure, instead of starting coilmq. */
  external: { target: Target; pid: number | undefined } | undefined;
  login: string;
  passcode: string;
  vhost: string;
}

function makeConfig(filters: readonly string[]): Config {
  const login = process.env.BENCH_LOGIN ?? 'guest';
  const passcode = process.env.BENCH_PASSCODE ?? 'guest';
  const vhost = process.env.BENCH_VHOST ?? '/';
  let external: Config['external'];
  const t = process.env.BENCH_TARGET;
  if (t !== undefined && t !== '') {
    const m = /^(.+):([0-9]+)$/.exec(t);
    if (m === null) throw new Error(`BENCH_TARGET=${t}: expected host:port`);
    const host = m[1]!;
    if (!/^(127\.|localhost$|::1$|\[::1\]$)/.test(host)) {
      throw new Error(`BENCH_TARGET=${t}: loopback only`);
    }
    const pid = process.env.BENCH_TARGET_PID;
    external = {
      target: { host: host.replace(/^\[|\]$/g, ''), port: Number(m[2]), login, passcode, vhost },
      pid: pid === undefined || pid === '' ? undefined : Number(pid),
    };
  }
  const explicitBacklog = filters.some((f) => f.includes('backlog'));
  return {
    limits: {
      warmupMs: envNumber('BENCH_BROKER_WARMUP', 1) * 1000,
      measureMs: envNumber('BENCH_BROKER_SECONDS', 5) * 1000,
      maxMessages: Math.round(envNumber('BENCH_MAX_MESSAGES', 2e7)),
      stallMs: 10_000,
    },
    backlog: Math.round(envNumber('BENCH_BACKLOG', explicitBacklog ? 1_000_000 : 100_000)),
    backlogMs: envNumber('BENCH_BACKLOG_SECONDS', 300) * 1000,
    transientWindow: Math.round(envNumber('BENCH_TRANSIENT_WINDOW', 1000)),
    brokerArgs: (process.env.BENCH_BROKER_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
    profDir: process.env.BENCH_BROKER_PROF || undefined,
    external,
    login,
    passcode,
    vhost,
  };
}

// --- measuring the broker --------------------------------------------------------------------

/** What is measured of the broker over a phase's window. */
interface BrokerFigures {
  /** CPU time over wall time, in cores (its worker threads included). */
  brokerCpu?: number;
  /** RSS at the end of the window, MB (2^20 bytes). */
  rssMB?: number;
  /** Highest RSS sampled during the window (every 50 ms), MB. */
  peakRssMB?: number;
  /** The kernel's high-water mark of RSS over the process's life (VmHWM), MB. */
  hwmMB?: number;
  loopP50Ms?: number;
  loopP99Ms?: number;
  loopMaxMs?: number;
  /** Event-loop utilisation of the broker's main thread, 0..1. */
  elu?: number;
  /** The SQLite store's transactions per second (in-process cases only). */
  commitsPerSec?: number;
  /** Rows written (inserts, deletes, updates) per second by those transactions. */
  rowWritesPerSec?: number;
  /** Mean time a transaction took in the writer thread, ms. */
  commitMs?: number;
  /** CPU in use on the whole machine over the window, in cores (from /proc/stat). */
  machineCpu?: number;
}

interface Meter {
  hooks: Hooks;
  figures(phase: string): BrokerFigures;
  /** The broker's VmRSS and VmHWM now, in bytes, where it can be read. */
  memory?(): { rss: number; hwm: number } | undefined;
  stop(): void;
}

const MB = 1024 * 1024;

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
const CLK_TCK = clockTicks();

/** A process measured from /proc: CPU (utime + stime) and RSS. */
class ProcMeter implements Meter {
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly open = new Map<string, { cpu: number; t: number; peak: number }>();
  private readonly done = new Map<string, BrokerFigures>();

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 50);
    this.timer.unref();
  }

  /** VmRSS and VmHWM in bytes, or undefined once the process is gone. */
  memory(): { rss: number; hwm: number } | undefined {
    try {
      const s = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (name: string): number =>
        Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
      return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
    } catch {
      return undefined;
    }
  }

  /** utime + stime in seconds (all threads). */
  private cpu(): number {
    try {
      const s = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      return NaN;
    }
  }

  private sample(): void {
    const m = this.memory();
    if (m === undefined) return;
    for (const w of this.open.values()) w.peak = Math.max(w.peak, m.rss);
  }

  readonly hooks: Hooks = {
    begin: (phase) => {
      this.open.set(phase, { cpu: this.cpu(), t: performance.now(), peak: 0 });
      this.sample();
    },
    end: (phase) => {
      const w = this.open.get(phase);
      if (w === undefined) return;
      this.sample();
      this.open.delete(phase);
      const seconds = (performance.now() - w.t) / 1000;
      const m = this.memory();
      this.done.set(phase, {
        brokerCpu: round((this.cpu() - w.cpu) / seconds, 2),
        ...(m === undefined
          ? {}
          : {
              rssMB: round(m.rss / MB, 1),
              peakRssMB: round(Math.max(w.peak, m.rss) / MB, 1),
              hwmMB: round(m.hwm / MB, 1),
            }),
      });
    },
  };

  figures(phase: string): BrokerFigures {
    return this.done.get(phase) ?? {};
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Busy CPU time of the whole machine so far, in seconds (every core). */
function machineCpuSeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return busy / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Adds the machine's CPU use over each phase to what `inner` measures. */
function withMachineCpu(inner: Meter): Meter {
  const open = new Map<string, { cpu: number; t: number }>();
  const done = new Map<string, number>();
  return {
    hooks: {
      begin(phase) {
        open.set(phase, { cpu: machineCpuSeconds(), t: performance.now() });
        inner.hooks.begin(phase);
      },
      end(phase) {
        inner.hooks.end(phase);
        const w = open.get(phase);
        if (w === undefined) return;
        open.delete(phase);
        const seconds = (performance.now() - w.t) / 1000;
        done.set(phase, round((machineCpuSeconds() - w.cpu) / seconds, 2));
      },
    },
    figures(phase) {
      const m = done.get(phase);
      return { ...inner.figures(phase), ...(Number.isFinite(m) ? { machineCpu: m } : {}) };
    },
    memory: () => inner.memory?.(),
    stop: () => inner.stop(),
  };
}

/**
 * What else ran on the machine: CPU in use beyond this process over `ms` (before a run,
 * when its broker is not yet started), in cores.
 */
async function othersCpu(ms = 500): Promise<number> {
  const m0 = machineCpuSeconds();
  const p0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const p = process.cpuUsage(p0);
  return Math.max(0, (machineCpuSeconds() - m0 - (p.user + p.system) / 1e6) / (ms / 1000));
}

/** Nothing to measure: another broker whose PID we were not told. */
class NullMeter implements Meter {
  readonly hooks: Hooks = { begin() {}, end() {} };
  figures(): BrokerFigures {
    return {};
  }
  stop(): void {}
}

/**
 * The broker in this process: event-loop delay and utilisation, CPU and RSS (of this
 * whole process), and what its store committed.
 */
class InProcessMeter implements Meter {
  private readonly open = new Map<
    string,
    {
      delay: ReturnType<typeof monitorEventLoopDelay>;
      elu: ReturnType<typeof performance.eventLoopUtilization>;
      cpu: NodeJS.CpuUsage;
      t: number;
      peak: number;
      store: SqliteStoreStats;
    }
  >();

  constructor(private readonly store: SqliteStore) {}

  private readonly done = new Map<string, BrokerFigures>();
  private readonly timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    for (const w of this.open.values()) w.peak = Math.max(w.peak, rss);
  }, 50);

  readonly hooks: Hooks = {
    begin: (phase) => {
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      this.open.set(phase, {
        delay,
        elu: performance.eventLoopUtilization(),
        cpu: process.cpuUsage(),
        t: performance.now(),
        peak: process.memoryUsage.rss(),
        store: this.store.stats(),
      });
    },
    end: (phase) => {
      const w = this.open.get(phase);
      if (w === undefined) return;
      this.open.delete(phase);
      w.delay.disable();
      const seconds = (performance.now() - w.t) / 1000;
      const cpu = process.cpuUsage(w.cpu);
      const rss = process.memoryUsage.rss();
      const st = this.store.stats();
      const batches = st.batches - w.store.batches;
      this.done.set(phase, {
        brokerCpu: round((cpu.user + cpu.system) / 1e6 / seconds, 2),
        rssMB: round(rss / MB, 1),
        peakRssMB: round(Math.max(w.peak, rss) / MB, 1),
        loopP50Ms: round(w.delay.percentile(50) / 1e6, 2),
        loopP99Ms: round(w.delay.percentile(99) / 1e6, 2),
        loopMaxMs: round(w.delay.max / 1e6, 2),
        elu: round(performance.eventLoopUtilization(w.elu).utilization, 2),
        commitsPerSec: Math.round(batches / seconds),
        rowWritesPerSec: Math.round((st.writes - w.store.writes) / seconds),
        commitMs: batches === 0 ? 0 : round((st.commitMs - w.store.commitMs) / batches, 2),
      });
    },
  };

  figures(phase: string): BrokerFigures {
    return this.done.get(phase) ?? {};
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// --- the broker as a child process ------------------------------------------------------------

/** Builds dist/ when src/ has changed since (the binary runs the compiled code). */
function ensureBuilt(): void {
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  let built = 0;
  try {
    built = statSync(join(ROOT, 'dist', 'index.js')).mtimeMs;
  } catch {
    // not built
  }
  if (built >= newest(join(ROOT, 'src'))) return;
  console.log('# building dist/ (src/ is newer)');
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '').trim();
    if (built === 0) throw new Error(`cannot build dist/:\n${out}`, { cause: err });
    console.log(`# build failed, running the dist/ there is (older than src/):\n# ${out}`);
  }
}

class BrokerChild {
  readonly output: string[] = [];
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly startMs: number,
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    output: string[],
  ) {
    this.exited = exited;
    this.output = output;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts `coilmq` on a free loopback port; resolves once it says it has started. */
  static start(args: string[], profDir: string | undefined): Promise<BrokerChild> {
    const nodeArgs = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [...nodeArgs, BIN, '-b', '127.0.0.1', '-p', '0', '--ws-port', '0', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    const keep = (line: string): void => {
      output.push(line);
      if (output.length > 40) output.shift();
    };
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    createInterface({ input: child.stderr! }).on('line', keep);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`coilmq did not start within 120 s:\n${output.join('\n')}`));
      }, 120_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        keep(line);
        let entry: { msg?: string; port?: number } | undefined;
        try {
          entry = JSON.parse(line) as { msg?: string; port?: number };
        } catch {
          return;
        }
        if (entry.msg === 'coilmq started' && typeof entry.port === 'number') {
          clearTimeout(timer);
          resolve(new BrokerChild(child, entry.port, performance.now() - t0, exited, output));
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(`coilmq exited (${code ?? signal}) before starting:\n${output.join('\n')}`),
        );
      });
    });
  }

  /** SIGTERM, and SIGKILL if it has not exited within 60 s. Resolves with how long it took. */
  async stop(): Promise<{ ms: number; code: number | null; killed: boolean }> {
    const t0 = performance.now();
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return { ms: 0, code: this.child.exitCode, killed: false };
    }
    this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, 60_000);
    const { code } = await this.exited;
    clearTimeout(timer);
    return { ms: round(performance.now() - t0, 0), code, killed };
  }
}

// --- cases ----------------------------------------------------------------------------------

/** One row of the table and one JSON line. */
interface Row extends Partial<PhaseFigures>, BrokerFigures {
  bench: 'broker';
  case: string;
  target: string;
  [more: string]: unknown;
}

interface Env {
  config: Config;
  report(row: Row): void;
}

function targetName(config: Config): string {
  const e = config.external;
  return e === undefined ? 'coilmq' : `${e.target.host}:${e.target.port}`;
}

function rows(
  env: Env,
  name: string,
  result: ScenarioResult,
  meter: Meter,
  extra: Record<string, unknown> = {},
): void {
  for (const [phase, figures] of Object.entries(result)) {
    env.report({
      bench: 'broker',
      case: phase === '' ? name : `${name}/${phase}`,
      target: targetName(env.config),
      ...figures,
      ...meter.figures(phase),
      ...extra,
    });
  }
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9.-]+/g, '_');
}

/**
 * Runs `fn` against the broker: a fresh coilmq child (on a fresh data directory) unless
 * BENCH_TARGET names another, measured by a ProcMeter.
 */
async function againstBroker<T>(
  env: Env,
  name: string,
  fn: (target: Target, meter: Meter) => Promise<T>,
): Promise<T> {
  const { config } = env;
  if (config.external !== undefined) {
    const { target, pid } = config.external;
    const meter = withMachineCpu(pid === undefined ? new NullMeter() : new ProcMeter(pid));
    try {
      return await fn(target, meter);
    } finally {
      meter.stop();
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'coilmq-bench-broker-'));
  const profDir = config.profDir === undefined ? undefined : join(config.profDir, safeName(name));
  const b = await BrokerChild.start(
    ['--data-dir', join(dir, 'data'), ...config.brokerArgs],
    profDir,
  );
  const meter = withMachineCpu(new ProcMeter(b.pid));
  try {
    return await fn(targetOf(config, b.port), meter);
  } finally {
    meter.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
    if (profDir !== undefined) printProfile(profDir);
  }
}

function targetOf(config: Config, port: number): Target {
  return {
    host: '127.0.0.1',
    port,
    login: config.login,
    passcode: config.passcode,
    vhost: config.vhost,
  };
}

function printProfile(dir: string): void {
  try {
    console.log(summarizeProfiles(dir, 25).replace(/^/gm, '# '));
  } catch (err) {
    console.log(`# no profile in ${dir}: ${(err as Error).message}`);
  }
}

function persistentParams(
  config: Config,
  producers: number,
  window: number,
  consumer = true,
): PersistentParams {
  return { producers, window, size: 256, consumer, limits: config.limits };
}

function transientParams(config: Config): TransientParams {
  return { size: 256, window: config.transientWindow, limits: config.limits };
}

async function persistentCase(
  env: Env,
  name: string,
  producers: number,
  window: number,
  consumer = true,
): Promise<void> {
  await againstBroker(env, name, async (target, meter) => {
    const params = persistentParams(env.config, producers, window, consumer);
    params.queue = freshQueue(`persistent-${producers}p`);
    const result = await persistentReceipt(target, meter.hooks, params);
    rows(env, name, result, meter, { producers, window, consumer });
    // A broker that outlives the case keeps nothing from it.
    if (env.config.external !== undefined) await purgeQueue(target, params.queue);
  });
}

async function transientCase(env: Env, name: string): Promise<void> {
  await againstBroker(env, name, async (target, meter) => {
    const result = await transientQueue(target, meter.hooks, transientParams(env.config));
    rows(env, name, result, meter);
  });
}

/** Issue 7's targets for coilmq. */
const IDLE_RSS_LIMIT_KIB = 16;
const SLOW_CONSUMER_RSS_LIMIT_MB = 256;

/**
 * idle-connections-N: N idle connections with heart-beats, the broker's RSS per
 * connection (row `name`), then the transient 1 -> 1 flow while they stay open (row
 * `name/queue-1to1`).
 */
async function idleCase(env: Env, name: string, connections: number): Promise<void> {
  await againstBroker(env, name, async (target, meter) => {
    checkOpenFiles(connections, env.config.external?.pid);
    const { idle, queue } = await idleConnections(target, meter.hooks, {
      connections,
      batch: 100,
      heartBeatMs: 10_000,
      openMs: 120_000,
      rss: () => meter.memory?.()?.rss,
      queue: transientParams(env.config),
    });
    const tn = targetName(env.config);
    const per = idle.rssPerConnKiB;
    const notes =
      per === undefined
        ? 'broker RSS not known (no BENCH_TARGET_PID)'
        : `${per} KiB per connection (RSS ${idle.rssBeforeMB} MB before, ${idle.rssOpenMB} MB ` +
          `with ${connections.toLocaleString('en-US')} open)`;
    env.report({
      bench: 'broker',
      case: name,
      target: tn,
      ...idle,
      ...meter.figures('idle'),
      ...(tn === 'coilmq' && per !== undefined
        ? {
            rssCheck: `${per <= IDLE_RSS_LIMIT_KIB ? 'PASS' : 'FAIL'} (${per} KiB per connection, limit ${IDLE_RSS_LIMIT_KIB} KiB)`,
          }
        : {}),
      notes:
        idle.closedByBroker > 0
          ? `${notes}; ${idle.closedByBroker} closed by the broker`
          : `${notes}; open in ${idle.openMs} ms`,
    });
    env.report({
      bench: 'broker',
      case: `${name}/queue-1to1`,
      target: tn,
      ...queue,
      ...meter.figures('queue-1to1'),
      idleConnections: connections,
    });
  });
}

/**
 * slow-consumer-1g: 16,384 x 64 KiB transient messages to one consumer that reads 10 ms of
 * every 50: the broker's peak RSS (VmHWM as well for coilmq, started for the case; VmRSS
 * sampled every 50 ms for a broker given by BENCH_TARGET), the time and rate.
 */
async function slowConsumerCase(env: Env, name: string): Promise<void> {
  await againstBroker(env, name, async (target, meter) => {
    const before = meter.memory?.();
    const result = await slowConsumer(target, meter.hooks, {
      messages: 16_384,
      size: 64 * 1024,
      periodMs: 50,
      pauseMs: 40,
      maxMs: 180_000,
      stallMs: 30_000,
    });
    const tn = targetName(env.config);
    const f = meter.figures('');
    const peak = peakOf({ ...f, target: tn });
    const gib = (result.messages * 64 * 1024) / 2 ** 30;
    env.report({
      bench: 'broker',
      case: name,
      target: tn,
      ...result,
      ...f,
      ...(before === undefined ? {} : { rssBeforeMB: round(before.rss / MB, 1) }),
      ...(peak > 0 ? { peakBrokerRssMB: peak } : {}),
      ...(tn === 'coilmq' && peak > 0
        ? {
            rssCheck: `${peak < SLOW_CONSUMER_RSS_LIMIT_MB ? 'PASS' : 'FAIL'} (peak ${peak} MB, limit ${SLOW_CONSUMER_RSS_LIMIT_MB} MB)`,
          }
        : {}),
      notes: `${gib.toFixed(2)} GiB in ${result.seconds} s`,
    });
  });
}

function flowParams(config: Config, p: Omit<FlowParams, 'limits'>): FlowParams {
  return { ...p, limits: config.limits };
}

async function flowCase(env: Env, name: string, p: Omit<FlowParams, 'limits'>): Promise<void> {
  await againstBroker(env, name, async (target, meter) => {
    const result = await flow(target, meter.hooks, flowParams(env.config, p));
    rows(env, name, result, meter, {
      producers: p.producers,
      consumers: p.consumers,
      kind: p.kind,
      ack: p.ack,
      size: p.size,
      ...(p.rate === undefined ? {} : { rate: p.rate }),
    });
  });
}

/** Messages sent at full speed before the 2,000 msg/s cases start pacing (FlowParams.warmBurst). */
const LATENCY_WARM_BURST = 50_000;

/** The 1 -> 1 flow of relay-1to1 and of its coilmq counterpart: 256 B, 1000 in flight. */
const RELAY_FLOW: Omit<FlowParams, 'limits'> = {
  producers: 1,
  consumers: 1,
  kind: 'queue',
  ack: 'auto',
  size: 256,
  window: 1000,
};

/** relay-latency-2000: the flow of latency-2000 (a fixed 2,000 msg/s), through the relay. */
const RELAY_LATENCY_FLOW: Omit<FlowParams, 'limits'> = {
  ...RELAY_FLOW,
  window: 10_000,
  rate: 2000,
  warmBurst: LATENCY_WARM_BURST,
};

/**
 * The physical limit: a minimal TCP relay (its own Node process, as the broker has), which
 * forwards every byte of the second connection of a pair (the producer) to the first (the
 * consumer). No parsing, no routing: what Node and loopback carry.
 */
const RELAY_SOURCE = `
const net = require('node:net');
let waiting = null;
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  if (waiting === null) {
    waiting = s;
    s.on('close', () => { if (waiting === s) waiting = null; });
    return;
  }
  const consumer = waiting;
  waiting = null;
  s.pipe(consumer);
  const end = () => { s.destroy(); consumer.destroy(); };
  s.on('close', end);
  consumer.on('close', end);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

async function startRelay(): Promise<{ pid: number; port: number; stop(): void }> {
  const child = spawn(process.execPath, ['-e', RELAY_SOURCE], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay: no port within 10 s')), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(Number(line));
    });
  });
  return { pid: child.pid!, port, stop: () => child.kill() };
}

/**
 * relay-1to1: the 1 -> 1 flow through the relay, then the same flow through a fresh
 * coilmq ("relay-1to1/coilmq"), with coilmq's rate as a fraction of the relay's.
 * relay-latency-2000: the same at a fixed 2,000 msg/s, for the latency floor (p99).
 */
async function relayCase(
  env: Env,
  name: string,
  spec: Omit<FlowParams, 'limits'> = RELAY_FLOW,
): Promise<void> {
  const relay = await startRelay();
  const meter = withMachineCpu(new ProcMeter(relay.pid));
  let relayRate: number;
  try {
    const result = await flow(
      targetOf(env.config, relay.port),
      meter.hooks,
      flowParams(env.config, { ...spec, relay: true }),
    );
    relayRate = result['']!.msgsPerSec;
    rows(env, name, result, meter, { target: 'relay' });
  } finally {
    meter.stop();
    relay.stop();
  }
  await againstBroker(env, `${name}/coilmq`, async (target, m) => {
    const result = await flow(target, m.hooks, flowParams(env.config, spec));
    const rate = result['']!.msgsPerSec;
    const fraction = round(rate / relayRate, 3);
    rows(env, `${name}/coilmq`, result, m, {
      fractionOfRelay: fraction,
      notes: `${(fraction * 100).toFixed(1)}% of the relay's ${relayRate.toLocaleString('en-US')} msgs/s`,
    });
  });
}

async function backlogCase(env: Env, name: string): Promise<void> {
  const { config } = env;
  const n = config.backlog;
  const queue = freshQueue('backlog');
  const progress = (line: string): void => console.log(`# ${name}: ${line}`);
  const fillParams = {
    queue,
    messages: n,
    size: 1024,
    receiptEvery: 1000,
    receiptsInFlight: 10,
    maxMs: config.backlogMs,
    stallMs: 30_000,
    progress,
  };
  const drainParams = (expected: number) => ({
    queue,
    expected,
    size: 1024,
    ack: 'client-individual' as const,
    prefetch: 1000,
    maxMs: config.backlogMs,
    stallMs: 30_000,
    progress,
  });
  const check = (f: BrokerFigures): string => {
    const peak = peakOf({ ...f, target: targetName(config) });
    if (peak === 0) return 'n/a';
    return `${peak < RSS_LIMIT_MB ? 'PASS' : 'FAIL'} (peak ${peak} MB, limit ${RSS_LIMIT_MB} MB)`;
  };
  const report = (phase: string, figures: PhaseFigures, meter: Meter, extra: object): void => {
    const f = meter.figures(phase);
    env.report({
      bench: 'broker',
      case: `${name}/${phase}`,
      target: targetName(config),
      backlog: n,
      ...figures,
      ...f,
      rssCheck: check(f),
      ...extra,
    });
  };

  if (config.external !== undefined) {
    await againstBroker(env, name, async (target, meter) => {
      const fill = await backlogFill(target, meter.hooks, fillParams);
      report('fill', fill, meter, {});
      const drain = await backlogDrain(target, meter.hooks, drainParams(fill.filled));
      report('drain', drain, meter, { restart: 'none (external broker)' });
    });
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), 'coilmq-bench-backlog-'));
  const args = ['--data-dir', join(dir, 'data'), ...config.brokerArgs];
  const prof = (phase: string): string | undefined =>
    config.profDir === undefined ? undefined : join(config.profDir, safeName(`${name}-${phase}`));
  try {
    const first = await BrokerChild.start(args, prof('fill'));
    const meter1 = withMachineCpu(new ProcMeter(first.pid));
    let fill: Awaited<ReturnType<typeof backlogFill>>;
    try {
      fill = await backlogFill(targetOf(config, first.port), meter1.hooks, fillParams);
    } finally {
      meter1.stop();
    }
    const stopped = await first.stop();
    report('fill', fill, meter1, { stopMs: stopped.ms, stopCode: stopped.code });
    if (prof('fill') !== undefined) printProfile(prof('fill')!);

    const second = await BrokerChild.start(args, prof('drain'));
    const procMeter2 = new ProcMeter(second.pid);
    const meter2 = withMachineCpu(procMeter2);
    const atStart = procMeter2.memory();
    try {
      const drain = await backlogDrain(
        targetOf(config, second.port),
        meter2.hooks,
        drainParams(fill.filled),
      );
      report('drain', drain, meter2, {
        restartMs: round(second.startMs, 0),
        rssAtStartMB: atStart === undefined ? undefined : round(atStart.rss / MB, 1),
      });
    } finally {
      meter2.stop();
      await second.stop();
    }
    if (prof('drain') !== undefined) printProfile(prof('drain')!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The broker here (startBroker with a SqliteStore on a fresh directory), the load in a
 * child process given `order` (its target filled in), measured by an InProcessMeter.
 */
async function inProcessCase(
  env: Env,
  name: string,
  order: (target: Target) => ChildOrder,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const { config } = env;
  const dir = mkdtempSync(join(tmpdir(), 'coilmq-bench-inproc-'));
  const store = new SqliteStore({ path: join(dir, 'coilmq.db') });
  const broker = await startBroker({ host: '127.0.0.1', port: 0, store });
  const meter = withMachineCpu(new InProcessMeter(store));
  const child = fork(LOAD_MODULE, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, COILMQ_BENCH_LOAD_CHILD: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const l = config.limits;
    const bound = 2 * (l.warmupMs + l.measureMs) + 4 * l.stallMs + 30_000;
    const result = await new Promise<ScenarioResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no result within ${bound} ms`)), bound);
      child.on('message', (m: ChildReport) => {
        if (m.type === 'begin') meter.hooks.begin(m.phase);
        else if (m.type === 'end') meter.hooks.end(m.phase);
        else if (m.type === 'result') {
          clearTimeout(timer);
          resolve(m.result);
        } else {
          clearTimeout(timer);
          reject(new Error(`load generator: ${m.message}`));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`load generator exited with ${code}`));
      });
      child.send(order(targetOf(config, broker.address().port)));
    });
    rows(env, name, result, meter, extra);
  } finally {
    meter.stop();
    child.kill();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CaseDef {
  name: string;
  /** Only against coilmq started here (not BENCH_TARGET). */
  coilmqOnly?: boolean;
  run(env: Env, name: string): Promise<void>;
}

export const CASES: readonly CaseDef[] = [
  { name: 'persistent-receipt-1p/w1', run: (e, n) => persistentCase(e, n, 1, 1) },
  { name: 'persistent-receipt-1p/w100', run: (e, n) => persistentCase(e, n, 1, 100) },
  { name: 'persistent-receipt-1p/w1000', run: (e, n) => persistentCase(e, n, 1, 1000) },
  { name: 'persistent-receipt-10p/w100', run: (e, n) => persistentCase(e, n, 10, 100) },
  {
    name: 'persistent-receipt-1p/w100/no-consumer',
    run: (e, n) => persistentCase(e, n, 1, 100, false),
  },
  {
    name: 'persistent-receipt-10p/w100/no-consumer',
    run: (e, n) => persistentCase(e, n, 10, 100, false),
  },
  { name: 'transient-queue-1to1', run: (e, n) => transientCase(e, n) },
  {
    name: 'queue-4to4-client-individual',
    run: (e, n) =>
      flowCase(e, n, {
        producers: 4,
        consumers: 4,
        kind: 'queue',
        ack: 'client-individual',
        size: 256,
        window: e.config.transientWindow,
      }),
  },
  {
    name: 'topic-1to10',
    run: (e, n) =>
      flowCase(e, n, {
        producers: 1,
        consumers: 10,
        kind: 'topic',
        ack: 'auto',
        size: 256,
        window: e.config.transientWindow,
      }),
  },
  {
    name: 'latency-2000',
    run: (e, n) =>
      flowCase(e, n, {
        producers: 1,
        consumers: 1,
        kind: 'queue',
        ack: 'auto',
        size: 256,
        window: 10_000,
        rate: 2000,
        warmBurst: LATENCY_WARM_BURST,
      }),
  },
  {
    name: 'queue-1to1-64k',
    run: (e, n) =>
      flowCase(e, n, {
        producers: 1,
        consumers: 1,
        kind: 'queue',
        ack: 'auto',
        size: 64 * 1024,
        window: 64,
      }),
  },
  { name: 'idle-connections-2000', run: (e, n) => idleCase(e, n, 2000) },
  { name: 'slow-consumer-1g', run: (e, n) => slowConsumerCase(e, n) },
  { name: 'relay-1to1', coilmqOnly: true, run: (e, n) => relayCase(e, n) },
  {
    name: 'relay-latency-2000',
    coilmqOnly: true,
    run: (e, n) => relayCase(e, n, RELAY_LATENCY_FLOW),
  },
  { name: 'backlog-fill-drain', run: (e, n) => backlogCase(e, n) },
  {
    name: 'persistent-receipt-1p/w100/inproc',
    coilmqOnly: true,
    run: (e, n) =>
      inProcessCase(
        e,
        n,
        (target) => ({ type: 'persistent', target, params: persistentParams(e.config, 1, 100) }),
        { producers: 1, window: 100 },
      ),
  },
  {
    name: 'persistent-receipt-10p/w100/inproc',
    coilmqOnly: true,
    run: (e, n) =>
      inProcessCase(
        e,
        n,
        (target) => ({ type: 'persistent', target, params: persistentParams(e.config, 10, 100) }),
        { producers: 10, window: 100 },
      ),
  },
  {
    name: 'persistent-receipt-10p/w100/no-consumer/inproc',
    coilmqOnly: true,
    run: (e, n) =>
      inProcessCase(
        e,
        n,
        (target) => ({
          type: 'persistent',
          target,
          params: persistentParams(e.config, 10, 100, false),
        }),
        { producers: 10, window: 100, consumer: false },
      ),
  },
  {
    name: 'transient-queue-1to1/alongside-persistent-10p/inproc',
    coilmqOnly: true,
    run: (e, n) =>
      inProcessCase(e, n, (target) => ({
        type: 'alongside',
        target,
        params: {
          transient: transientParams(e.config),
          persistent: persistentParams(e.config, 10, 100),
        },
      })),
  },
];

// --- reporting ------------------------------------------------------------------------------

/**
 * The peak RSS of a case: VmHWM too when the broker was started for it (then VmHWM is the
 * peak of this case alone, and catches what 50 ms sampling misses); the sampled peak only
 * for a broker that outlives the case (BENCH_TARGET), whose VmHWM is its lifetime's.
 */
function peakOf(f: BrokerFigures & { target?: string }): number {
  const sampled = f.peakRssMB ?? 0;
  return f.target === 'coilmq' ? Math.max(sampled, f.hwmMB ?? 0) : sampled;
}

function table(results: readonly Row[]): string {
  const n = (x: number | undefined): string => (x === undefined ? '-' : x.toLocaleString('en-US'));
  const f = (x: number | undefined, d = 2): string => (x === undefined ? '-' : x.toFixed(d));
  const head = [
    'case',
    'msgs/s',
    'MB/s',
    'p50 ms',
    'p99 ms',
    'consumed/s',
    'broker CPU',
    'gen CPU',
    'peak RSS MB',
    'loop p99 ms',
    'notes',
  ];
  const body = results.map((r) => {
    const notes: string[] = [];
    if (typeof r.error === 'string') notes.push(`ERROR: ${r.error.split('\n')[0]}`);
    if (typeof r.rssCheck === 'string') notes.push(`RSS ${r.rssCheck}`);
    if (r.p999Ms !== undefined) notes.push(`p999 ${r.p999Ms} ms, max ${r.maxMs} ms`);
    if (r.maxGapMs !== undefined) notes.push(`max gap ${r.maxGapMs} ms`);
    if (r.loopMaxMs !== undefined) notes.push(`loop max ${r.loopMaxMs} ms, ELU ${r.elu}`);
    if (r.commitsPerSec !== undefined) {
      notes.push(
        `${n(r.commitsPerSec)} commits/s (${r.commitMs} ms), ${n(r.rowWritesPerSec)} rows/s`,
      );
    }
    if (typeof r.restartMs === 'number') notes.push(`restart ${r.restartMs} ms`);
    if (typeof r.stopMs === 'number') notes.push(`stop ${r.stopMs} ms`);
    if (typeof r.missing === 'number') notes.push(`missing ${r.missing}`);
    if (typeof r.otherCpu === 'number' && r.otherCpu >= 0.1) {
      notes.push(`other work on the machine: ${r.otherCpu} cores`);
    }
    if (r.notes !== undefined) notes.push(r.notes);
    return [
      r.case,
      n(r.msgsPerSec),
      f(r.mbPerSec, 1),
      f(r.p50Ms),
      f(r.p99Ms),
      n(r.consumedPerSec),
      f(r.brokerCpu),
      f(r.genCpu),
      r.peakRssMB === undefined ? '-' : f(peakOf(r), 1),
      f(r.loopP99Ms),
      notes.join('; '),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The load average (this run's own work included): other work skews every figure. */
function loadNote(): string {
  const [one, five] = loadavg();
  return `load average ${one!.toFixed(2)} ${five!.toFixed(2)}`;
}

/** Runs the selected cases; prints a JSON line per row as it comes and a table at the end. */
export async function runBrokerBench(
  include: (fullName: string) => boolean,
  filters: readonly string[],
): Promise<Row[]> {
  const config = makeConfig(filters);
  const selected = CASES.filter(
    (c) => include(`broker/${c.name}`) && !(c.coilmqOnly && config.external !== undefined),
  );
  if (selected.length === 0) return [];
  if (config.external === undefined) ensureBuilt();
  const results: Row[] = [];
  const env: Env = {
    config,
    report: (row) => {
      // CPU used by neither the broker nor the load generator: other work on the machine.
      if (row.machineCpu !== undefined && row.brokerCpu !== undefined) {
        row.otherCpu = round(Math.max(0, row.machineCpu - row.brokerCpu - (row.genCpu ?? 0)), 2);
      }
      results.push(row);
      console.log(JSON.stringify(row));
    },
  };
  const l = config.limits;
  console.log(
    `# broker: target ${targetName(config)}, ${l.warmupMs / 1000} s warm-up + ` +
      `${l.measureMs / 1000} s per case, backlog ${config.backlog.toLocaleString('en-US')}` +
      (config.brokerArgs.length > 0 ? `, broker args ${config.brokerArgs.join(' ')}` : '') +
      `; ${loadNote()}; other processes were using ${(await othersCpu()).toFixed(2)} cores`,
  );
  const started = performance.now();
  for (const c of selected) {
    try {
      await c.run(env, c.name);
    } catch (err) {
      env.report({
        bench: 'broker',
        case: c.name,
        target: targetName(config),
        error: (err as Error).message,
      });
    }
  }
  console.log('\n' + table(results));
  console.log(
    `\n# broker: ${((performance.now() - started) / 1000).toFixed(1)} s in all; ${loadNote()}`,
  );
  return results;
}

/** For bench/run.ts. */
export const broker: Benchmark = async (ctx) => {
  await runBrokerBench(ctx.opts.include, process.argv.slice(2));
};

if (isMain(import.meta.url)) {
  const filters = process.argv.slice(2);
  console.log(describeMachine());
  await runBrokerBench(
    (name) => filters.length === 0 || filters.some((f) => name.includes(f)),
    filters,
  );
}
