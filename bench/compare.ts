/**
 * coilmq and RabbitMQ's STOMP plugin, side by side, on this machine, in one run:
 *
 *   npm run bench:compare            # 2 rounds, A B A B
 *   BENCH_ROUNDS=3 npm run bench:compare
 *
 * Installs rabbitmq-server from Debian's packages if it is missing, starts a private
 * instance on loopback (bench/rabbitmq.ts), runs the same load generator (bench/broker.ts)
 * against RabbitMQ and against a fresh coilmq in turn, stops what it started, and prints each
 * figure for both with the ratio. Every case is bounded in count and time. A second table
 * gives the memory cases' figures (idle-connections-2000: broker RSS per idle connection;
 * slow-consumer-1g: peak broker RSS) with RabbitMQ's as a multiple of coilmq's.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRabbitMq, type RabbitMq } from './rabbitmq.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Cases both brokers run (the in-process and restart cases need coilmq itself). */
const CASES = [
  'transient-queue-1to1',
  'queue-4to4-client-individual',
  'topic-1to10',
  'latency-2000',
  'queue-1to1-64k',
  'persistent-receipt-1p/w1',
  'persistent-receipt-1p/w100',
  'persistent-receipt-10p/w100',
  'persistent-receipt-1p/w100/no-consumer',
  'persistent-receipt-10p/w100/no-consumer',
  'idle-connections-2000',
  'slow-consumer-1g',
];

/**
 * The physical limit (coilmq rounds only: the cases start a bare Node TCP relay, run the flow
 * through it, then through a fresh coilmq). Their rows are "<case>" (target relay) and
 * "<case>/coilmq".
 */
const RELAY_CASES = ['relay-1to1', 'relay-latency-2000'];

/** The rows those cases report (a case may report more than one). */
const ROWS = [...CASES, 'idle-connections-2000/queue-1to1'];

/** Rows with no message rate: only in the memory table. */
const MEMORY_ONLY = new Set(['idle-connections-2000']);

/** The memory table: one figure of one row each, lower is better. */
const MEMORY: { row: string; field: keyof Row; label: string; digits: number }[] = [
  {
    row: 'idle-connections-2000',
    field: 'rssPerConnKiB',
    label: 'idle-connections-2000: broker RSS per idle connection, KiB',
    digits: 1,
  },
  {
    row: 'idle-connections-2000',
    field: 'rssOpenMB',
    label: 'idle-connections-2000: broker RSS with the 2,000 open, MB',
    digits: 1,
  },
  {
    row: 'slow-consumer-1g',
    field: 'peakBrokerRssMB',
    label: 'slow-consumer-1g: peak broker RSS, MB',
    digits: 1,
  },
  {
    row: 'slow-consumer-1g',
    field: 'seconds',
    label: 'slow-consumer-1g: seconds for the 1 GiB',
    digits: 2,
  },
];

interface Row {
  case: string;
  target: string;
  msgsPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  peakRssMB?: number;
  brokerCpu?: number;
  /** idle-connections-2000: (RSS with them open - RSS before) / connections. */
  rssPerConnKiB?: number;
  rssOpenMB?: number;
  /** slow-consumer-1g: peak RSS (VmHWM too for coilmq). */
  peakBrokerRssMB?: number;
  seconds?: number;
}

function runBench(env: Record<string, string>, extra: readonly string[] = []): Promise<Row[]> {
  const cases = [...CASES, ...extra];
  const wanted = [...ROWS, ...extra, ...extra.map((c) => `${c}/coilmq`)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/broker.ts', ...cases], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      process.stderr.write(d.replace(/^(?!#).*$/gm, '').replace(/\n{2,}/g, '\n'));
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/broker.ts exited with ${code}`));
      const rows: Row[] = [];
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const r = JSON.parse(line) as Row & { bench?: string };
        if (r.bench === 'broker' && wanted.includes(r.case)) rows.push(r);
      }
      resolve(rows);
    });
  });
}

function median(xs: number[]): number | undefined {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}

const fmt = (x: number | undefined, digits = 0): string =>
  x === undefined ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits });

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  let rabbit: RabbitMq | undefined;
  const rows: Row[] = [];
  try {
    rabbit = await startRabbitMq();
    console.error(
      `# RabbitMQ ${rabbit.version} STOMP on 127.0.0.1:${rabbit.port} (pid ${rabbit.pid})`,
    );
    for (let r = 1; r <= rounds; r++) {
      console.error(`# round ${r}/${rounds}: RabbitMQ`);
      rows.push(
        ...(
          await runBench({
            BENCH_TARGET: `127.0.0.1:${rabbit.port}`,
            BENCH_TARGET_PID: String(rabbit.pid),
          })
        ).map((x) => ({ ...x, target: 'rabbitmq' })),
      );
      console.error(`# round ${r}/${rounds}: coilmq`);
      rows.push(
        ...(await runBench({}, RELAY_CASES)).map((x) => ({
          ...x,
          target: x.target === 'relay' ? 'relay' : 'coilmq',
        })),
      );
    }
  } finally {
    await rabbit?.stop();
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; RabbitMQ ${rabbit?.version ?? '?'}; ${rounds} rounds (A B A B), medians.`,
    '',
    '| case | RabbitMQ msgs/s | coilmq msgs/s | ratio | RabbitMQ p99 ms | coilmq p99 ms | p99 ratio | RabbitMQ peak RSS MB | coilmq peak RSS MB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const summary: object[] = [];
  for (const name of ROWS.filter((r) => !MEMORY_ONLY.has(r))) {
    const of = (target: string): Row[] =>
      rows.filter((x) => x.case === name && x.target === target);
    const [a, b] = [of('rabbitmq'), of('coilmq')];
    const ra = median(a.map((x) => x.msgsPerSec));
    const co = median(b.map((x) => x.msgsPerSec));
    const pa = median(a.map((x) => x.p99Ms ?? NaN));
    const pc = median(b.map((x) => x.p99Ms ?? NaN));
    const ratio = ra && co ? co / ra : undefined;
    const p99Ratio = pa && pc ? pc / pa : undefined;
    summary.push({
      case: name,
      rabbitmq: ra,
      coilmq: co,
      ratio,
      rabbitP99: pa,
      coilmqP99: pc,
      p99Ratio,
    });
    lines.push(
      `| ${name} | ${fmt(ra)} | ${fmt(co)} | ${ratio === undefined ? '-' : ratio.toFixed(2) + '×'} | ${fmt(pa, 2)} | ${fmt(pc, 2)} | ${p99Ratio === undefined ? '-' : p99Ratio.toFixed(2)} | ${fmt(median(a.map((x) => x.peakRssMB ?? NaN)))} | ${fmt(median(b.map((x) => x.peakRssMB ?? NaN)))} |`,
    );
  }
  lines.push(
    '',
    '| memory (lower is better) | RabbitMQ | coilmq | RabbitMQ / coilmq |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const m of MEMORY) {
    const of = (target: string): number | undefined =>
      median(
        rows
          .filter((x) => x.case === m.row && x.target === target)
          .map((x) => Number(x[m.field] ?? NaN)),
      );
    const [ra, co] = [of('rabbitmq'), of('coilmq')];
    const ratio = ra && co ? ra / co : undefined;
    summary.push({ memory: m.label, field: m.field, rabbitmq: ra, coilmq: co, ratio });
    lines.push(
      `| ${m.label} | ${fmt(ra, m.digits)} | ${fmt(co, m.digits)} | ${ratio === undefined ? '-' : ratio.toFixed(2) + '×'} |`,
    );
  }
  // The physical limit: the same flows through a bare relay, in the coilmq rounds.
  const med = (name: string, target: string, field: 'msgsPerSec' | 'p99Ms'): number | undefined =>
    median(rows.filter((x) => x.case === name && x.target === target).map((x) => x[field] ?? NaN));
  const relayRate = med('relay-1to1', 'relay', 'msgsPerSec');
  const relayCoilmq = med('relay-1to1/coilmq', 'coilmq', 'msgsPerSec');
  const relayRabbit = med('transient-queue-1to1', 'rabbitmq', 'msgsPerSec');
  const floor = med('relay-latency-2000', 'relay', 'p99Ms');
  const floorCoilmq = med('relay-latency-2000/coilmq', 'coilmq', 'p99Ms');
  const floorRabbit = med('latency-2000', 'rabbitmq', 'p99Ms');
  const share = (x: number | undefined, of: number | undefined): string =>
    x === undefined || !of ? '-' : `${((x / of) * 100).toFixed(1)} %`;
  const above = (x: number | undefined): string =>
    x === undefined || floor === undefined ? '-' : `+${fmt(x - floor, 2)}`;
  summary.push({
    physicalLimit: 'relay',
    relayMsgsPerSec: relayRate,
    coilmqMsgsPerSec: relayCoilmq,
    coilmqFractionOfRelay: relayRate && relayCoilmq ? relayCoilmq / relayRate : undefined,
    relayP99At2000: floor,
    coilmqP99At2000: floorCoilmq,
    rabbitP99At2000: floorRabbit,
  });
  lines.push(
    '',
    '| through a bare Node TCP relay (the floor) | relay | coilmq | coilmq vs relay | RabbitMQ | RabbitMQ vs relay |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    `| 1→1, 256 B, 1000 in flight: msgs/s | ${fmt(relayRate)} | ${fmt(relayCoilmq)} | ${share(relayCoilmq, relayRate)} | ${fmt(relayRabbit)} | ${share(relayRabbit, relayRate)} |`,
    `| 1→1 at 2,000 msg/s: p99 ms | ${fmt(floor, 2)} | ${fmt(floorCoilmq, 2)} | ${above(floorCoilmq)} | ${fmt(floorRabbit, 2)} | ${above(floorRabbit)} |`,
  );
  for (const s of summary) console.log(JSON.stringify({ bench: 'compare', ...s }));
  console.log('\n' + lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
