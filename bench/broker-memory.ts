/**
 * The memory scenarios of bench/broker.ts (issue 7), against coilmq or another broker:
 *
 *   idleConnections  N idle STOMP connections (a real CONNECT with heart-beat:10000,10000,
 *                    kept alive by a heart-beat every 5 s), opened in batches; the broker's
 *                    RSS before and with them open (once it settles), per connection; then
 *                    the transient 1 -> 1 queue flow (bench/broker-load.ts) while they stay
 *                    open.
 *   slowConsumer     N large transient messages into a queue whose one consumer reads
 *                    slowly (its socket paused 40 ms of every 50 ms): how long it takes, and
 *                    (measured by the caller over the phase "") the broker's peak RSS.
 *
 * Both are bounded in time and fail with a clear error instead of hanging; both close every
 * socket they open, whatever happens.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  freshQueue,
  headerOf,
  purgeQueue,
  RawClient,
  SendBuilder,
  transientFlag,
  transientQueue,
  type Hooks,
  type PhaseFigures,
  type Target,
  type TransientParams,
} from './broker-load.js';

const MB = 1024 * 1024;

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The soft limit on open files of a process (this one by default), or undefined. */
function openFilesLimit(pid: number | 'self' = 'self'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.trim().split(/\s+/)[3];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * Fails early, with what to do, when this process (and so a coilmq it starts, which
 * inherits the limit) or the broker `pid` cannot hold `n` more sockets.
 */
export function checkOpenFiles(n: number, brokerPid?: number): void {
  const need = n + 256;
  const mine = openFilesLimit();
  if (mine !== undefined && mine < need) {
    throw new Error(
      `the open-files limit is ${mine}, ${n} connections need about ${need}: ` +
        `raise it (ulimit -n ${Math.max(4096, need)}) and run again`,
    );
  }
  if (brokerPid !== undefined) {
    const theirs = openFilesLimit(brokerPid);
    if (theirs !== undefined && theirs < need) {
      throw new Error(
        `the broker (pid ${brokerPid}) may open ${theirs} files, ${n} connections need about ` +
          `${need}: start it with a higher limit (ulimit -n ${Math.max(4096, need)})`,
      );
    }
  }
}

// --- idle connections -------------------------------------------------------------------------

export interface IdleParams {
  connections: number;
  /** Connections opened at once; the next batch waits for every CONNECTED of this one. */
  batch: number;
  /** The heart-beat header's both values, ms; a newline goes out every half of it. */
  heartBeatMs: number;
  /** Longest time opening them all may take. */
  openMs: number;
  /** The broker's RSS in bytes now, if it can be read. */
  rss: () => number | undefined;
  /** The flow run while they are open. */
  queue: TransientParams;
}

export interface IdleFigures {
  connections: number;
  /** Time to open them all (CONNECTED on each), ms. */
  openMs: number;
  rssBeforeMB?: number;
  /** RSS with every connection open, once it settled. */
  rssOpenMB?: number;
  /** (rssOpen - rssBefore) / connections, KiB. */
  rssPerConnKiB?: number;
  /** Idle connections the broker closed while they were open (0 unless something broke). */
  closedByBroker: number;
  /** Time from the last CONNECTED to the RSS reading, ms. */
  settleMs: number;
  genCpu: number;
}

/** Idle STOMP connections on plain sockets, with a heart-beat timer for all of them. */
class IdlePool {
  readonly sockets: net.Socket[] = [];
  closedByBroker = 0;
  firstClose: string | undefined;
  private closing = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly target: Target,
    private readonly heartBeatMs: number,
  ) {
    // Every half interval, so the broker (which allows 1.5 intervals, or so) never waits.
    this.timer = setInterval(() => {
      for (const s of this.sockets) if (!s.destroyed) s.write('\n');
    }, heartBeatMs / 2);
  }

  /** One connection: CONNECT, and resolves on CONNECTED (rejects on ERROR, close, time). */
  connect(timeoutMs = 10_000): Promise<void> {
    const t = this.target;
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: t.host, port: t.port });
      this.sockets.push(s);
      let settled = false;
      let got = Buffer.alloc(0);
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail(`no CONNECTED within ${timeoutMs} ms`), timeoutMs);
      s.on('connect', () => {
        s.write(
          `CONNECT\naccept-version:1.2\nhost:${t.vhost}\nlogin:${t.login}\n` +
            `passcode:${t.passcode}\nheart-beat:${this.heartBeatMs},${this.heartBeatMs}\n\n\0`,
        );
      });
      const onData = (chunk: Buffer): void => {
        got = Buffer.concat([got, chunk]);
        const nul = got.indexOf(0);
        if (nul === -1 && got.length < 4096) return;
        const frame = got.subarray(0, nul === -1 ? got.length : nul);
        const text = frame.toString('latin1').replace(/^[\r\n]+/, '');
        if (!text.startsWith('CONNECTED')) {
          return fail(`CONNECT refused: ${text.slice(0, 300).replace(/\n/g, ' | ')}`);
        }
        // From now on, whatever comes (heart-beats) is read and dropped.
        s.off('data', onData);
        s.on('data', () => {});
        settled = true;
        clearTimeout(timer);
        got = Buffer.alloc(0);
        resolve();
      };
      s.on('data', onData);
      s.on('error', (err) => fail(err.message));
      s.on('close', () => {
        if (!settled) return fail('connection closed before CONNECTED');
        if (this.closing) return;
        this.closedByBroker++;
        this.firstClose ??= `an idle connection was closed by the broker`;
      });
    });
  }

  close(): void {
    this.closing = true;
    clearInterval(this.timer);
    for (const s of this.sockets) s.destroy();
    this.sockets.length = 0;
  }
}

/** Samples `rss` every 500 ms (after `minMs`) until it moves by under 0.25 MB, or `maxMs`. */
async function settledRss(
  rss: () => number | undefined,
  minMs: number,
  maxMs: number,
): Promise<number | undefined> {
  const t0 = performance.now();
  await sleep(minMs);
  let last = rss();
  while (last !== undefined && performance.now() - t0 < maxMs) {
    await sleep(500);
    const now = rss();
    if (now === undefined) return undefined;
    const moved = Math.abs(now - last);
    last = now;
    if (moved < 0.25 * MB) break;
  }
  return last;
}

/**
 * Opens `p.connections` idle connections, measures the broker's RSS per connection
 * (phase "idle" spans the settling, so the caller can measure the broker's CPU for the
 * heart-beats), then runs the transient 1 -> 1 queue flow while they stay open (its
 * measured window is phase "queue-1to1").
 */
export async function idleConnections(
  target: Target,
  hooks: Hooks,
  p: IdleParams,
): Promise<{ idle: IdleFigures; queue: PhaseFigures }> {
  const pool = new IdlePool(target, p.heartBeatMs);
  try {
    const before = await settledRss(p.rss, 500, 5_000);
    const cpu0 = cpuNow();
    const t0 = performance.now();
    for (let opened = 0; opened < p.connections;) {
      const n = Math.min(p.batch, p.connections - opened);
      const results = await Promise.allSettled(
        Array.from({ length: n }, () => pool.connect(Math.min(10_000, p.openMs))),
      );
      const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (bad !== undefined) {
        throw new Error(
          `idle connection ${opened + results.indexOf(bad) + 1} of ${p.connections}: ` +
            `${(bad.reason as Error).message}`,
        );
      }
      opened += n;
      if (pool.closedByBroker > 0) {
        throw new Error(
          `${pool.closedByBroker} idle connections closed by the broker while opening`,
        );
      }
      if (performance.now() - t0 > p.openMs && opened < p.connections) {
        throw new Error(`only ${opened} of ${p.connections} connections opened in ${p.openMs} ms`);
      }
    }
    const openMs = performance.now() - t0;
    hooks.begin('idle');
    const open = await settledRss(p.rss, 2_000, 10_000);
    hooks.end('idle');
    const settleMs = performance.now() - t0 - openMs;
    const idle: IdleFigures = {
      connections: p.connections,
      openMs: round(openMs, 0),
      ...(before === undefined || open === undefined
        ? {}
        : {
            rssBeforeMB: round(before / MB, 1),
            rssOpenMB: round(open / MB, 1),
            rssPerConnKiB: round((open - before) / 1024 / p.connections, 1),
          }),
      closedByBroker: pool.closedByBroker,
      settleMs: round(settleMs, 0),
      genCpu: round((cpuNow() - cpu0) / ((performance.now() - t0) / 1000), 2),
    };
    const result = await transientQueue(
      target,
      {
        begin: (phase) => hooks.begin(phase === '' ? 'queue-1to1' : `queue-1to1/${phase}`),
        end: (phase) => hooks.end(phase === '' ? 'queue-1to1' : `queue-1to1/${phase}`),
      },
      p.queue,
    );
    const queue = result['']!;
    idle.closedByBroker = pool.closedByBroker;
    if (pool.closedByBroker > 0) {
      const note = `${pool.closedByBroker} idle connections closed by the broker meanwhile`;
      queue.notes = queue.notes === undefined ? note : `${queue.notes}; ${note}`;
    }
    return { idle, queue };
  } finally {
    pool.close();
  }
}

// --- slow consumer ----------------------------------------------------------------------------

export interface SlowConsumerParams {
  messages: number;
  size: number;
  /** Every `periodMs`, the consumer stops reading for `pauseMs`. */
  periodMs: number;
  pauseMs: number;
  /** The whole run's bound, and the longest time without a message received. */
  maxMs: number;
  stallMs: number;
}

/**
 * `p.messages` transient messages of `p.size` bytes from one producer (as fast as its
 * socket takes them) to one slow consumer (auto ack) on a fresh queue. Phase "" spans from
 * the first send to the last message received.
 */
export async function slowConsumer(
  target: Target,
  hooks: Hooks,
  p: SlowConsumerParams,
): Promise<PhaseFigures & { sent: number; seconds: number }> {
  const queue = freshQueue('slow-consumer');
  let consumer: RawClient | undefined;
  let producer: RawClient | undefined;
  let slow: ReturnType<typeof setInterval> | undefined;
  let resumeTimer: ReturnType<typeof setTimeout> | undefined;
  let failure: Error | undefined;
  let received = 0;
  let sent = 0;
  let complete = false;
  let begun = false;
  try {
    consumer = await RawClient.connect(target);
    const c = consumer;
    c.onFrame = (head) => {
      if (head[0] === 0x4d /* MESSAGE */) received++;
      else if (head[0] === 0x45 /* ERROR */) {
        failure ??= new Error(`consumer: ERROR ${headerOf(head, Buffer.from('\nmessage:')) ?? ''}`);
      }
    };
    c.onClose = (err) => {
      if (!c.closing) failure ??= new Error(`consumer: closed${err ? `: ${err.message}` : ''}`);
    };
    await c.subscribe(queue, 'slow', 'auto');
    producer = await RawClient.connect(target);
    const pr = producer;
    pr.onFrame = (head) => {
      if (head[0] === 0x45) {
        failure ??= new Error(`producer: ERROR ${headerOf(head, Buffer.from('\nmessage:')) ?? ''}`);
      }
    };
    pr.onClose = (err) => {
      if (!pr.closing) failure ??= new Error(`producer: closed${err ? `: ${err.message}` : ''}`);
    };
    // 16 frames (1 MiB of 64 KiB bodies) per write.
    const perWrite = Math.max(1, Math.floor(MB / p.size));
    const builder = new SendBuilder(queue, p.size, transientFlag(pr.server));
    const batch = builder.build(
      perWrite,
      () => -1,
      (i) => i,
    );
    const one = builder.build(
      1,
      () => -1,
      () => 0,
    );
    const pump = (): void => {
      while (sent < p.messages && failure === undefined) {
        const n = Math.min(perWrite, p.messages - sent);
        sent += n;
        const ok = n === perWrite ? pr.write(batch) : pr.write(Buffer.concat(Array(n).fill(one)));
        if (!ok) return; // onDrain calls again
      }
    };
    pr.onDrain = pump;

    slow = setInterval(() => {
      c.socket.pause();
      resumeTimer = setTimeout(() => c.socket.resume(), p.pauseMs);
    }, p.periodMs);

    hooks.begin('');
    begun = true;
    const cpu0 = cpuNow();
    const t0 = performance.now();
    pump();
    let last = received;
    let lastMove = t0;
    for (;;) {
      await sleep(50);
      const now = performance.now();
      if (failure !== undefined) throw failure;
      if (received >= p.messages) break;
      if (received !== last) {
        last = received;
        lastMove = now;
      } else if (now - lastMove > p.stallMs) {
        throw new Error(
          `no message for ${p.stallMs} ms (received ${received}, sent ${sent} of ${p.messages})`,
        );
      }
      if (now - t0 > p.maxMs) {
        throw new Error(
          `not done within ${p.maxMs / 1000} s: received ${received}, sent ${sent} of ` +
            `${p.messages}`,
        );
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    hooks.end('');
    begun = false;
    complete = true;
    return {
      messages: received,
      sent,
      seconds: round(seconds, 3),
      msgsPerSec: Math.round(received / seconds),
      mbPerSec: round((received * p.size) / seconds / 1e6, 2),
      genCpu: round((cpuNow() - cpu0) / seconds, 2),
    };
  } finally {
    if (begun) hooks.end('');
    clearInterval(slow);
    clearTimeout(resumeTimer);
    producer?.close();
    consumer?.close();
    // A broker that outlives the run keeps none of its messages.
    if (!complete && sent > received) {
      await purgeQueue(target, queue).catch(() => 0);
    }
  }
}
