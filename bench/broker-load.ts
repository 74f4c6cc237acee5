/**
 * The load generator of bench/broker.ts: STOMP over raw TCP sockets (no client library),
 * literal frames written by hand, incoming frames counted by a NUL scan.
 *
 * It runs in the process of bench/broker.ts when the broker is a child process (the real
 * binary, or another broker given by BENCH_TARGET), and in a child process of its own,
 * forked by bench/broker.ts, when the broker runs in the benchmark's process (the variant
 * that measures the broker's own event-loop delay). Then it takes orders and reports
 * over the IPC channel: see the end of this file.
 *
 * Every scenario is bounded in messages (`maxMessages`) and in time (warm-up, measured
 * window, and `stallMs` without progress, after which it fails). A scenario reports one
 * set of figures per phase; `hooks.begin/end(phase)` mark each phase's measured window,
 * so the caller can measure the broker (CPU, RSS, event-loop delay) over the same window.
 */
import net from 'node:net';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

export interface Target {
  host: string;
  port: number;
  login: string;
  passcode: string;
  /** The CONNECT `host` header (RabbitMQ: the virtual host, "/"). */
  vhost: string;
}

export interface Hooks {
  begin(phase: string): void;
  end(phase: string): void;
}

export interface Limits {
  warmupMs: number;
  measureMs: number;
  /** Most messages a scenario sends (warm-up included). */
  maxMessages: number;
  /** A scenario that makes no progress for this long fails. */
  stallMs: number;
}

/** What the load generator saw in one phase's measured window. */
export interface PhaseFigures {
  /** Messages counted: receipts (persistent scenarios) or messages received. */
  messages: number;
  seconds: number;
  msgsPerSec: number;
  /** Decimal MB/s of message bodies counted. */
  mbPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  p999Ms?: number;
  maxMs?: number;
  /** Messages the producers sent per second (where not the same as those counted). */
  sentPerSec?: number;
  /** Messages the consumer received per second, where there is one beside the producers. */
  consumedPerSec?: number;
  /** Longest time the consumer went without a message, in ms. */
  maxGapMs?: number;
  /** The load generator's own CPU use over the window, in cores. */
  genCpu: number;
  notes?: string;
}

export type ScenarioResult = Record<string, PhaseFigures>;

const LF = 10;
const CR = 13;
const CH_M = 0x4d; // MESSAGE
const CH_R = 0x52; // RECEIPT
const CH_E = 0x45; // ERROR
const CH_C = 0x43; // CONNECTED

/** How much of each incoming frame is kept for a look at its headers (and body start). */
const HEAD_MAX = 1024;

const RECEIPT_ID = Buffer.from('\nreceipt-id:');
const ACK_HEADER = Buffer.from('\nack:');
const SERVER_HEADER = Buffer.from('\nserver:');
const BLANK_LINE = Buffer.from('\n\n');

/** The value of a header in a frame's head, or undefined. */
export function headerOf(head: Buffer, name: Buffer): string | undefined {
  const end = head.indexOf(BLANK_LINE);
  const at = head.indexOf(name);
  if (at === -1 || (end !== -1 && at > end)) return undefined;
  const from = at + name.length;
  let to = head.indexOf(LF, from);
  if (to === -1) to = head.length;
  return head.toString('latin1', from, to);
}

/** The decimal number at `from`, after any spaces and lowercase letters ("r123": 123), or -1. */
function numberAt(buf: Buffer, from: number): number {
  let i = from;
  while (i < buf.length && (buf[i] === 0x20 || (buf[i]! >= 0x61 && buf[i]! <= 0x7a))) i++;
  let n = 0;
  let digits = 0;
  for (; i < buf.length; i++) {
    const b = buf[i]!;
    if (b < 0x30 || b > 0x39) break;
    n = n * 10 + (b - 0x30);
    digits++;
  }
  return digits === 0 ? -1 : n;
}

/** The number in a RECEIPT's receipt-id ("r123" -> 123), or -1. */
function receiptNumber(head: Buffer): number {
  const at = head.indexOf(RECEIPT_ID);
  return at === -1 ? -1 : numberAt(head, at + RECEIPT_ID.length);
}

/** The number a body starts with (bodies made by SendBuilder carry one), or -1. */
function bodyNumber(head: Buffer): number {
  const at = head.indexOf(BLANK_LINE);
  return at === -1 ? -1 : numberAt(head, at + 2);
}

/**
 * The persistent header of a transient SEND to a queue on this server. coilmq keeps queue
 * messages durable unless told `persistent:false`; RabbitMQ's are transient by default,
 * and its STOMP adapter takes `persistent:false` as a queue property too (the SEND then
 * fails with resource_locked on a queue that a SUBSCRIBE declared).
 */
export function transientFlag(server: string): false | undefined {
  return server.startsWith('RabbitMQ') ? undefined : false;
}

/** A printable body of `size` bytes, with no NUL. */
function makeBody(size: number): Buffer {
  const pattern = 'coilmq-bench-0123456789-abcdefghijklmnopqrstuvwxyz-';
  return Buffer.from(pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size), 'latin1');
}

/** Width of the number a body starts with (a sequence number or a timestamp). */
const TAG_WIDTH = 20;

/**
 * Writes SEND frames into one buffer, for one write per batch. Each body starts with a
 * tag (a sequence number or the send time in microseconds), padded to TAG_WIDTH.
 */
export class SendBuilder {
  private readonly head: Buffer;
  private readonly body: Buffer;
  private readonly maxFrame: number;

  /** `persistent` undefined: no persistent header (the broker's default). */
  constructor(destination: string, size: number, persistent: boolean | undefined) {
    const p = persistent === undefined ? '' : `persistent:${persistent}\n`;
    this.head = Buffer.from(
      `SEND\ndestination:${destination}\n${p}` +
        `content-type:text/plain\ncontent-length:${size}\n`,
      'latin1',
    );
    this.body = makeBody(Math.max(size, TAG_WIDTH)).subarray(0, size);
    this.maxFrame = this.head.length + 32 + 1 + size + 1;
  }

  /**
   * `n` frames; frame i has tag `tag(i)` and, when `receipt(i)` is not negative, a
   * `receipt:r<that number>` header.
   */
  build(n: number, receipt: (i: number) => number, tag: (i: number) => number): Buffer {
    const buf = Buffer.allocUnsafe(n * this.maxFrame);
    let p = 0;
    for (let i = 0; i < n; i++) {
      p += this.head.copy(buf, p);
      const r = receipt(i);
      if (r >= 0) p += buf.write(`receipt:r${r}\n`, p, 'latin1');
      buf[p++] = LF;
      const bodyAt = p;
      p += this.body.copy(buf, p);
      if (this.body.length >= TAG_WIDTH) {
        // A space after the number, so the body's own text never runs on from its digits.
        buf.write(String(tag(i)).padStart(TAG_WIDTH - 1, ' ') + ' ', bodyAt, 'latin1');
      }
      buf[p++] = 0;
    }
    return buf.subarray(0, p);
  }
}

/** A STOMP 1.2 client over a raw socket: frames are written as bytes, read by a NUL scan. */
export class RawClient {
  readonly socket: net.Socket;
  /** Called with the head (first HEAD_MAX bytes) of each frame received. */
  onFrame: (head: Buffer) => void = () => {};
  /** Called after each chunk read, once its frames are handled. */
  onChunkEnd: () => void = () => {};
  /** Called when the socket can take more after a write returned false. */
  onDrain: () => void = () => {};
  /** Called once when the connection ends, with the error if there was one. */
  onClose: (err?: Error) => void = () => {};
  framesIn = 0;
  /** The CONNECTED frame's server header ("coilmq/0.1.0", "RabbitMQ/3.10.8"). */
  server = '';
  closed = false;
  /** Set once we close it ourselves: its close is then no failure. */
  closing = false;
  private inFrame = false;
  private readonly headParts: Buffer[] = [];
  private headLen = 0;
  private receiptSeq = 0;
  private readonly waiters = new Map<string, () => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /** Connects and logs in; resolves once CONNECTED arrives. */
  static connect(target: Target, timeoutMs = 10_000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port });
      socket.setNoDelay(true);
      const c = new RawClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no CONNECTED within ${timeoutMs} ms from ${target.host}:${target.port}`));
      }, timeoutMs);
      let settled = false;
      c.onFrame = (head) => {
        clearTimeout(timer);
        settled = true;
        c.onFrame = () => {};
        if (head[0] === CH_C) {
          c.server = headerOf(head, SERVER_HEADER) ?? '';
          resolve(c);
        } else {
          socket.destroy();
          reject(new Error(`CONNECT refused: ${head.toString('latin1').replace(/\n/g, ' | ')}`));
        }
      };
      socket.on('connect', () => {
        socket.write(
          `CONNECT\naccept-version:1.2\nhost:${target.vhost}\nlogin:${target.login}\n` +
            `passcode:${target.passcode}\nheart-beat:0,0\n\n\0`,
        );
      });
      socket.on('data', (chunk: Buffer) => c.scan(chunk));
      socket.on('drain', () => c.onDrain());
      let error: Error | undefined;
      socket.on('error', (err) => {
        error = err;
        if (!settled) {
          clearTimeout(timer);
          settled = true;
          reject(err);
        }
      });
      socket.on('close', () => {
        c.closed = true;
        if (settled) c.onClose(error);
      });
    });
  }

  /**
   * Connects without CONNECT (the byte relay of bench/broker.ts speaks no STOMP): resolves
   * once the TCP connection is up.
   */
  static connectRaw(target: Target): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port });
      socket.setNoDelay(true);
      const c = new RawClient(socket);
      c.server = 'relay';
      socket.on('data', (chunk: Buffer) => c.scan(chunk));
      socket.on('drain', () => c.onDrain());
      let error: Error | undefined;
      let settled = false;
      socket.on('connect', () => {
        settled = true;
        resolve(c);
      });
      socket.on('error', (err) => {
        error = err;
        if (!settled) {
          settled = true;
          reject(err);
        }
      });
      socket.on('close', () => {
        c.closed = true;
        if (settled) c.onClose(error);
      });
    });
  }

  write(data: Buffer | string): boolean {
    return this.socket.write(data);
  }

  /** Sends `frame` (without its final NUL) with a receipt and resolves when it comes. */
  request(frame: string, timeoutMs = 10_000): Promise<void> {
    const id = `x${++this.receiptSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no RECEIPT for ${frame.split('\n')[0]} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      const [first, ...rest] = frame.split('\n\n');
      this.write(`${first}\nreceipt:${id}\n\n${rest.join('\n\n')}\0`);
    });
  }

  subscribe(destination: string, id: string, ack = 'auto', prefetch?: number): Promise<void> {
    const pf = prefetch === undefined ? '' : `prefetch-count:${prefetch}\n`;
    return this.request(`SUBSCRIBE\nid:${id}\ndestination:${destination}\nack:${ack}\n${pf}\n`);
  }

  /** DISCONNECT with a receipt (so every frame before it was handled), then close. */
  async disconnect(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    try {
      await this.request('DISCONNECT\n\n', timeoutMs);
    } finally {
      this.close();
    }
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private scan(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (!this.inFrame) {
        // EOLs between frames are heart-beats.
        let b = chunk[pos];
        while (b === LF || b === CR) {
          if (++pos === len) return this.onChunkEnd();
          b = chunk[pos];
        }
        this.inFrame = true;
      }
      const nul = chunk.indexOf(0, pos);
      const end = nul === -1 ? len : nul;
      if (this.headLen < HEAD_MAX && end > pos) {
        const take = Math.min(end - pos, HEAD_MAX - this.headLen);
        this.headParts.push(chunk.subarray(pos, pos + take));
        this.headLen += take;
      }
      if (nul === -1) break;
      const head =
        this.headParts.length === 1
          ? this.headParts[0]!
          : Buffer.concat(this.headParts, this.headLen);
      this.headParts.length = 0;
      this.headLen = 0;
      this.inFrame = false;
      pos = nul + 1;
      this.framesIn++;
      if (head[0] === CH_R && this.waiters.size > 0) {
        // A receipt asked for by request() (ids "x<n>"); the scenarios' own are "r<n>".
        const id = headerOf(head, RECEIPT_ID);
        const w = id === undefined ? undefined : this.waiters.get(id);
        if (w !== undefined) {
          this.waiters.delete(id!);
          w();
          continue;
        }
      }
      this.onFrame(head);
    }
    this.onChunkEnd();
  }
}

/** An ERROR frame, as an Error carrying its headers. */
function errorFrame(head: Buffer): Error {
  return new Error(`ERROR from the broker: ${head.toString('latin1').replace(/\n+/g, ' | ')}`);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function msOf(h: RecordableHistogram, p: number): number {
  return h.count === 0 ? 0 : round(h.percentile(p) / 1e6, 2);
}

/**
 * Fails when told to, and checks bounds: `until` resolves when `done()` holds or after
 * `ms` (whichever first), and rejects on a failure or when `progress()` stands still for
 * `stallMs`.
 */
class Watch {
  private failure: Error | undefined;
  private readonly wake = new Set<() => void>();

  constructor(private readonly stallMs: number) {}

  fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.wake) w();
  }

  /** A client's close is a failure unless we closed it. */
  guard(c: RawClient, what: string): RawClient {
    c.onClose = (err) => {
      if (!c.closing)
        this.fail(new Error(`${what}: connection closed${err ? `: ${err.message}` : ''}`));
    };
    return c;
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  until(ms: number, done: () => boolean, progress: () => number): Promise<'done' | 'time'> {
    return new Promise((resolve, reject) => {
      const start = performance.now();
      let last = progress();
      let lastMove = start;
      const finish = (): void => {
        clearInterval(timer);
        this.wake.delete(tick);
      };
      const tick = (): void => {
        const now = performance.now();
        if (this.failure !== undefined) {
          finish();
          return reject(this.failure);
        }
        if (done()) {
          finish();
          return resolve('done');
        }
        if (now - start >= ms) {
          finish();
          return resolve('time');
        }
        const p = progress();
        if (p !== last) {
          last = p;
          lastMove = now;
        } else if (now - lastMove > this.stallMs) {
          finish();
          return reject(new Error(`no progress for ${this.stallMs} ms (stalled at ${p})`));
        }
      };
      const timer = setInterval(tick, 10);
      this.wake.add(tick);
      tick();
    });
  }
}

/** CPU time of this process, for the generator's own share. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

let queueCounter = 0;
/** A queue name of its own per scenario run, so runs never see each other's messages. */
export function freshQueue(label: string): string {
  return `/queue/bench.${label}.${process.pid}.${Date.now().toString(36)}.${++queueCounter}`;
}

// --- persistent SEND with a receipt per message ----------------------------------------------

export interface PersistentParams {
  producers: number;
  /** Unreceipted SENDs each producer keeps in flight (1: wait for each receipt). */
  window: number;
  size: number;
  /** A consumer drains the queue meanwhile (auto ack). */
  consumer: boolean;
  queue?: string;
  limits: Limits;
}

/** One producer: ids count up from 1; sendTimes[id % window] is when id was written. */
interface Producer {
  client: RawClient;
  nextId: number;
  outstanding: number;
  times: Float64Array;
  blocked: boolean;
}

/**
 * A running persistent load: producers each keeping `window` SENDs with receipts in flight,
 * and optionally one consumer. `measure(phase)` times one window of it.
 */
class PersistentLoad {
  readonly hist = createHistogram();
  receipts = 0;
  consumed = 0;
  sent = 0;
  measuring = false;
  stopping = false;
  private readonly producers: Producer[] = [];
  private consumer: RawClient | undefined;
  private builder: SendBuilder;
  private readonly queue: string;

  constructor(
    private readonly target: Target,
    private readonly p: PersistentParams,
    private readonly watch: Watch,
  ) {
    this.queue = p.queue ?? freshQueue(`persistent-${p.producers}p`);
    this.builder = new SendBuilder(this.queue, p.size, true);
  }

  async start(): Promise<void> {
    if (this.p.consumer) {
      const c = this.watch.guard(await RawClient.connect(this.target), 'consumer');
      c.onFrame = (head) => {
        if (head[0] === CH_M) this.consumed++;
        else if (head[0] === CH_E) this.watch.fail(errorFrame(head));
      };
      await c.subscribe(this.queue, 'c0', 'auto');
      this.consumer = c;
    }
    for (let i = 0; i < this.p.producers; i++) {
      const client = this.watch.guard(await RawClient.connect(this.target), `producer ${i}`);
      const pr: Producer = {
        client,
        nextId: 1,
        outstanding: 0,
        times: new Float64Array(this.p.window),
        blocked: false,
      };
      client.onFrame = (head) => this.onFrame(pr, head);
      client.onChunkEnd = () => this.topUp(pr);
      client.onDrain = () => {
        pr.blocked = false;
        this.topUp(pr);
      };
      this.producers.push(pr);
    }
    for (const pr of this.producers) this.topUp(pr);
  }

  private onFrame(pr: Producer, head: Buffer): void {
    if (head[0] === CH_R) {
      const id = receiptNumber(head);
      if (id < 0) return this.watch.fail(new Error(`unexpected RECEIPT ${head.toString()}`));
      pr.outstanding--;
      if (this.measuring) {
        const ns = (performance.now() - pr.times[id % this.p.window]!) * 1e6;
        this.hist.record(Math.max(1, Math.round(ns)));
        this.receipts++;
      }
    } else if (head[0] === CH_E) {
      this.watch.fail(errorFrame(head));
    }
  }

  private topUp(pr: Producer): void {
    if (this.stopping || pr.blocked) return;
    let n = Math.min(this.p.window - pr.outstanding, this.p.limits.maxMessages - this.sent);
    if (n <= 0) return;
    n = Math.min(n, 1000);
    const first = pr.nextId;
    const now = performance.now();
    const buf = this.builder.build(
      n,
      (i) => first + i,
      (i) => first + i,
    );
    for (let i = 0; i < n; i++) pr.times[(first + i) % this.p.window] = now;
    pr.nextId += n;
    pr.outstanding += n;
    this.sent += n;
    if (!pr.client.write(buf)) pr.blocked = true;
  }

  get exhausted(): boolean {
    return (
      this.sent >= this.p.limits.maxMessages && this.producers.every((pr) => pr.outstanding === 0)
    );
  }

  async warmup(): Promise<void> {
    await this.watch.until(this.p.limits.warmupMs, () => this.exhausted, this.progress);
  }

  readonly progress = (): number => {
    let n = this.consumed;
    for (const pr of this.producers) n += pr.nextId - pr.outstanding;
    return n;
  };

  async measure(phase: string, hooks: Hooks): Promise<PhaseFigures> {
    this.hist.reset();
    this.receipts = 0;
    const consumed0 = this.consumed;
    this.measuring = true;
    hooks.begin(phase);
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await this.watch.until(this.p.limits.measureMs, () => this.exhausted, this.progress);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuNow() - cpu0;
    hooks.end(phase);
    this.measuring = false;
    const figures: PhaseFigures = {
      messages: this.receipts,
      seconds: round(seconds, 3),
      msgsPerSec: Math.round(this.receipts / seconds),
      mbPerSec: round((this.receipts * this.p.size) / seconds / 1e6, 2),
      p50Ms: msOf(this.hist, 50),
      p99Ms: msOf(this.hist, 99),
      maxMs: round(this.hist.max / 1e6, 2),
      genCpu: round(cpu / seconds, 2),
    };
    if (this.p.consumer) {
      figures.consumedPerSec = Math.round((this.consumed - consumed0) / seconds);
    }
    return figures;
  }

  stop(): void {
    this.stopping = true;
    for (const pr of this.producers) pr.client.close();
    this.consumer?.close();
  }
}

export async function persistentReceipt(
  target: Target,
  hooks: Hooks,
  p: PersistentParams,
): Promise<ScenarioResult> {
  const watch = new Watch(p.limits.stallMs);
  const load = new PersistentLoad(target, p, watch);
  try {
    await load.start();
    await load.warmup();
    return { '': await load.measure('', hooks) };
  } finally {
    load.stop();
  }
}

/**
 * Takes whatever is left in a queue (auto ack) until it stays empty for `quietMs`, at most
 * `maxMs`: a scenario without a consumer leaves none of its messages in a broker that
 * outlives it. Resolves with the number taken.
 */
export async function purgeQueue(
  target: Target,
  queue: string,
  quietMs = 500,
  maxMs = 60_000,
): Promise<number> {
  const c = await RawClient.connect(target);
  let taken = 0;
  let last = performance.now();
  c.onFrame = (head) => {
    if (head[0] === CH_M) {
      taken++;
      last = performance.now();
    }
  };
  try {
    await c.subscribe(queue, 'purge', 'auto');
    const start = performance.now();
    while (performance.now() - last < quietMs && performance.now() - start < maxMs) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    c.close();
  }
  return taken;
}

// --- transient queue, 1 producer -> 1 consumer ------------------------------------------------

export interface TransientParams {
  size: number;
  /** Most messages sent and not yet received (the producer waits beyond that). */
  window: number;
  limits: Limits;
}

/** Producer and consumer on one queue, persistent:false, auto ack; bodies carry send times. */
class TransientFlow {
  sent = 0;
  received = 0;
  stopping = false;
  measuring = false;
  readonly hist = createHistogram();
  maxGap = 0;
  private lastArrival = 0;
  private producer: RawClient | undefined;
  private consumer: RawClient | undefined;
  private blocked = false;
  private readonly queue = freshQueue('transient-1to1');
  private builder: SendBuilder | undefined;

  constructor(
    private readonly target: Target,
    private readonly p: TransientParams,
    private readonly watch: Watch,
  ) {}

  async start(): Promise<void> {
    const consumer = this.watch.guard(await RawClient.connect(this.target), 'transient consumer');
    consumer.onFrame = (head) => {
      if (head[0] === CH_M) {
        this.received++;
        if (this.measuring) {
          const now = performance.now();
          const sentAt = bodyNumber(head) / 1000; // microseconds in the body
          if (sentAt > 0) this.hist.record(Math.max(1, Math.round((now - sentAt) * 1e6)));
          if (this.lastArrival > 0 && now - this.lastArrival > this.maxGap) {
            this.maxGap = now - this.lastArrival;
          }
          this.lastArrival = now;
        }
      } else if (head[0] === CH_E) this.watch.fail(errorFrame(head));
    };
    consumer.onChunkEnd = () => this.topUp();
    await consumer.subscribe(this.queue, 't0', 'auto');
    const producer = this.watch.guard(await RawClient.connect(this.target), 'transient producer');
    producer.onFrame = (head) => {
      if (head[0] === CH_E) this.watch.fail(errorFrame(head));
    };
    producer.onDrain = () => {
      this.blocked = false;
      this.topUp();
    };
    this.builder = new SendBuilder(this.queue, this.p.size, transientFlag(producer.server));
    this.consumer = consumer;
    this.producer = producer;
    this.topUp();
  }

  private topUp(): void {
    if (this.stopping || this.blocked || this.producer === undefined) return;
    if (this.builder === undefined) return;
    let n = Math.min(
      this.p.window - (this.sent - this.received),
      this.p.limits.maxMessages - this.sent,
    );
    // Small batches keep the flow smooth; a batch per top-up keeps writes few.
    if (n < Math.min(64, this.p.window >> 2) && this.sent - this.received > 0) return;
    if (n <= 0) return;
    n = Math.min(n, 500);
    const stamp = Math.round(performance.now() * 1000);
    const buf = this.builder.build(
      n,
      () => -1,
      () => stamp,
    );
    this.sent += n;
    if (!this.producer.write(buf)) this.blocked = true;
  }

  get exhausted(): boolean {
    return this.sent >= this.p.limits.maxMessages && this.received >= this.sent;
  }

  readonly progress = (): number => this.received;

  async measure(phase: string, hooks: Hooks, ms = this.p.limits.measureMs): Promise<PhaseFigures> {
    this.hist.reset();
    this.maxGap = 0;
    this.lastArrival = performance.now();
    const received0 = this.received;
    this.measuring = true;
    hooks.begin(phase);
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await this.watch.until(ms, () => this.exhausted, this.progress);
    const now = performance.now();
    const seconds = (now - t0) / 1000;
    const cpu = cpuNow() - cpu0;
    hooks.end(phase);
    this.measuring = false;
    const n = this.received - received0;
    return {
      messages: n,
      seconds: round(seconds, 3),
      msgsPerSec: Math.round(n / seconds),
      mbPerSec: round((n * this.p.size) / seconds / 1e6, 2),
      p50Ms: msOf(this.hist, 50),
      p99Ms: msOf(this.hist, 99),
      maxMs: round(this.hist.max / 1e6, 2),
      maxGapMs: round(Math.max(this.maxGap, now - this.lastArrival), 2),
      genCpu: round(cpu / seconds, 2),
    };
  }

  stop(): void {
    this.stopping = true;
    this.producer?.close();
    this.consumer?.close();
  }
}

export async function transientQueue(
  target: Target,
  hooks: Hooks,
  p: TransientParams,
): Promise<ScenarioResult> {
  const watch = new Watch(p.limits.stallMs);
  const flow = new TransientFlow(target, p, watch);
  try {
    await flow.start();
    await watch.until(p.limits.warmupMs, () => flow.exhausted, flow.progress);
    return { '': await flow.measure('', hooks) };
  } finally {
    flow.stop();
  }
}

/**
 * The transient 1 -> 1 flow alone, then the same flow while a persistent load (producers
 * with a receipt per message, and a consumer) runs on other connections. Phases:
 * "alone", "with-persistent" (the transient flow) and "persistent" (the persistent load,
 * measured over the same window).
 */
export async function transientAlongside(
  target: Target,
  hooks: Hooks,
  p: { transient: TransientParams; persistent: PersistentParams },
): Promise<ScenarioResult> {
  const watch = new Watch(Math.max(p.transient.limits.stallMs, p.persistent.limits.stallMs));
  const flow = new TransientFlow(target, p.transient, watch);
  const load = new PersistentLoad(target, p.persistent, watch);
  const silent: Hooks = { begin() {}, end() {} };
  try {
    await flow.start();
    await watch.until(p.transient.limits.warmupMs, () => flow.exhausted, flow.progress);
    const alone = await flow.measure('alone', hooks);
    await load.start();
    await load.warmup();
    // Both measured over one window: the load's figures come from the same seconds.
    const both: Hooks = {
      begin: (phase) => {
        hooks.begin(phase);
        hooks.begin('persistent');
      },
      end: (phase) => {
        hooks.end(phase);
        hooks.end('persistent');
      },
    };
    const loadFigures = load.measure('persistent', silent);
    const withLoad = await flow.measure('with-persistent', both, p.persistent.limits.measureMs);
    const persistent = await loadFigures;
    return { alone, 'with-persistent': withLoad, persistent };
  } finally {
    load.stop();
    flow.stop();
  }
}

// --- many producers -> many consumers (queue or topic), fixed rate, raw relay ----------------

export interface FlowParams {
  producers: number;
  consumers: number;
  /** Queue: each message goes to one consumer; topic: to every subscriber. */
  kind: 'queue' | 'topic';
  ack: 'auto' | 'client-individual';
  size: number;
  /** Most messages sent and not yet received (by every subscriber, for a topic). */
  window: number;
  /** Messages per second, spread evenly; undefined: as fast as the window lets. */
  rate?: number;
  /**
   * With a rate: this many messages sent as fast as the window lets, and received, before
   * the paced sending starts. A broker on a JIT (coilmq on V8) is otherwise measured while
   * its code is still being optimised: a fresh process at 2,000 msg/s took some 30,000
   * messages to settle, while a long-running broker has long been warm.
   */
  warmBurst?: number;
  /**
   * No STOMP handshake: the target is a byte relay (bench/broker.ts) that forwards the
   * second connection's bytes to the first; the SEND frames themselves are counted.
   */
  relay?: boolean;
  limits: Limits;
}

const CH_S = 0x53; // SEND, as the relay forwards it

/**
 * Producers and consumers on one destination, transient (persistent:false where the broker
 * needs it), bodies tagged with the send time in microseconds. Counted at the consumers.
 */
class Flow {
  sent = 0;
  received = 0;
  stopping = false;
  measuring = false;
  readonly hist = createHistogram();
  maxGap = 0;
  private lastArrival = 0;
  private readonly producers: { client: RawClient; blocked: boolean }[] = [];
  private readonly consumers: RawClient[] = [];
  private next = 0;
  private builder: SendBuilder | undefined;
  private rateTimer: ReturnType<typeof setInterval> | undefined;
  private rateStart = 0;
  /** Messages sent before the paced sending began (the warm-up burst). */
  private pacedBase = 0;
  private bursting = false;
  private burstEnd = 0;
  private readonly fanout: number;
  private readonly destination: string;
  private readonly batchMax: number;

  constructor(
    private readonly target: Target,
    private readonly p: FlowParams,
    private readonly watch: Watch,
  ) {
    this.fanout = p.kind === 'topic' ? p.consumers : 1;
    const label = `${p.kind}-${p.producers}to${p.consumers}`;
    this.destination =
      p.kind === 'topic' ? freshQueue(label).replace('/queue/', '/topic/') : freshQueue(label);
    // About 1 MiB a write at most, and at most 500 frames.
    this.batchMax = Math.max(1, Math.min(500, Math.floor((1 << 20) / p.size)));
  }

  private connect(what: string): Promise<RawClient> {
    const c = this.p.relay ? RawClient.connectRaw(this.target) : RawClient.connect(this.target);
    return c.then((client) => this.watch.guard(client, what));
  }

  async start(): Promise<void> {
    const prefetch = Math.max(1, Math.ceil(this.p.window / this.p.consumers));
    for (let i = 0; i < this.p.consumers; i++) {
      const c = await this.connect(`consumer ${i}`);
      let acks: string[] = [];
      c.onFrame = (head) => {
        const kind = head[0];
        if (kind === CH_M || (this.p.relay && kind === CH_S)) {
          this.received++;
          if (this.p.ack !== 'auto') {
            const id = headerOf(head, ACK_HEADER);
            if (id === undefined) this.watch.fail(new Error('MESSAGE without an ack header'));
            else acks.push(`ACK\nid:${id}\n\n\0`);
          }
          if (this.measuring) {
            const now = performance.now();
            const sentAt = bodyNumber(head) / 1000; // microseconds in the body
            if (sentAt > 0) this.hist.record(Math.max(1, Math.round((now - sentAt) * 1e6)));
            if (this.lastArrival > 0 && now - this.lastArrival > this.maxGap) {
              this.maxGap = now - this.lastArrival;
            }
            this.lastArrival = now;
          }
        } else if (kind === CH_E) this.watch.fail(errorFrame(head));
      };
      c.onChunkEnd = () => {
        if (acks.length > 0) {
          c.write(acks.join(''));
          acks = [];
        }
        if (this.p.rate === undefined || this.bursting) this.topUp();
      };
      if (!this.p.relay) {
        await c.subscribe(
          this.destination,
          `s${i}`,
          this.p.ack,
          this.p.ack === 'auto' ? undefined : prefetch,
        );
      }
      this.consumers.push(c);
    }
    for (let i = 0; i < this.p.producers; i++) {
      const client = await this.connect(`producer ${i}`);
      const pr = { client, blocked: false };
      client.onFrame = (head) => {
        if (head[0] === CH_E) this.watch.fail(errorFrame(head));
      };
      client.onDrain = () => {
        pr.blocked = false;
        if (this.p.rate === undefined || this.bursting) this.topUp();
      };
      this.producers.push(pr);
    }
    const server = this.producers[0]!.client.server;
    this.builder = new SendBuilder(
      this.destination,
      this.p.size,
      this.p.relay ? undefined : transientFlag(server),
    );
    if (this.p.rate === undefined) this.topUp();
    else {
      if (this.p.warmBurst !== undefined) await this.burst(this.p.warmBurst);
      this.pacedBase = this.sent;
      this.rateStart = performance.now();
      this.rateTimer = setInterval(() => this.paced(), 1);
    }
  }

  /** Sends n messages as fast as the window lets and waits until they are received. */
  private async burst(n: number): Promise<void> {
    this.bursting = true;
    this.burstEnd = this.sent + n;
    this.topUp();
    const r = await this.watch.until(
      this.p.limits.warmupMs + 30_000,
      () => Math.floor(this.received / this.fanout) >= this.burstEnd,
      this.progress,
    );
    if (r !== 'done') throw new Error(`the warm-up burst of ${n} was not received in time`);
    this.bursting = false;
  }

  private inFlight(): number {
    return this.sent - Math.floor(this.received / this.fanout);
  }

  private write(n: number, tag: (i: number) => number): boolean {
    const pr = this.producers[this.next]!;
    this.next = (this.next + 1) % this.producers.length;
    const buf = this.builder!.build(n, () => -1, tag);
    this.sent += n;
    if (!pr.client.write(buf)) pr.blocked = true;
    return !pr.blocked;
  }

  /** As fast as the window lets: round robin over the producers that can take more. */
  private topUp(): void {
    if (this.stopping || this.builder === undefined) return;
    for (let tries = 0; tries < this.producers.length;) {
      const n = Math.min(
        this.p.window - this.inFlight(),
        (this.bursting ? this.burstEnd : this.p.limits.maxMessages) - this.sent,
        this.batchMax,
      );
      if (n <= 0) return;
      // Small batches keep the flow smooth; a batch per top-up keeps writes few.
      if (n < Math.min(64, this.p.window >> 2, this.batchMax) && this.inFlight() > 0) return;
      if (this.producers[this.next]!.blocked) {
        this.next = (this.next + 1) % this.producers.length;
        tries++;
        continue;
      }
      const stamp = Math.round(performance.now() * 1000);
      this.write(n, () => stamp);
      tries = 0;
    }
  }

  /**
   * At a fixed rate: every message due by now, tagged with the time it is written. Not with
   * the time it was due: the 1 ms timer sends in steps, so a message can wait up to 1 ms in
   * the load generator, which is the same for every broker and would hide the broker's own
   * latency (at 2,000 msg/s both brokers measured about 1.5 ms p99 that way). Sends are
   * never held back by the broker (a socket write only queues) except by the window, and a
   * full window is reported (measure()), so this omits no stall.
   */
  private paced(): void {
    if (this.stopping || this.builder === undefined) return;
    const now = performance.now();
    const due = Math.min(
      Math.floor(((now - this.rateStart) / 1000) * this.p.rate!),
      this.p.limits.maxMessages,
    );
    const n = Math.min(due - (this.sent - this.pacedBase), this.p.window - this.inFlight());
    if (n <= 0) return;
    const stamp = Math.round(now * 1000);
    this.write(n, () => stamp);
  }

  get exhausted(): boolean {
    return this.sent >= this.p.limits.maxMessages && this.received >= this.sent * this.fanout;
  }

  readonly progress = (): number => this.received;

  async measure(phase: string, hooks: Hooks): Promise<PhaseFigures> {
    this.hist.reset();
    this.maxGap = 0;
    this.lastArrival = performance.now();
    const received0 = this.received;
    const sent0 = this.sent;
    this.measuring = true;
    hooks.begin(phase);
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await this.watch.until(this.p.limits.measureMs, () => this.exhausted, this.progress);
    const now = performance.now();
    const seconds = (now - t0) / 1000;
    const cpu = cpuNow() - cpu0;
    hooks.end(phase);
    this.measuring = false;
    const n = this.received - received0;
    const figures: PhaseFigures = {
      messages: n,
      seconds: round(seconds, 3),
      msgsPerSec: Math.round(n / seconds),
      mbPerSec: round((n * this.p.size) / seconds / 1e6, 2),
      p50Ms: msOf(this.hist, 50),
      p99Ms: msOf(this.hist, 99),
      p999Ms: msOf(this.hist, 99.9),
      maxMs: round(this.hist.max / 1e6, 2),
      maxGapMs: round(Math.max(this.maxGap, now - this.lastArrival), 2),
      sentPerSec: Math.round((this.sent - sent0) / seconds),
      genCpu: round(cpu / seconds, 2),
    };
    if (this.p.rate !== undefined && this.inFlight() >= this.p.window) {
      figures.notes = `window of ${this.p.window} full: the rate was not kept`;
    }
    return figures;
  }

  stop(): void {
    this.stopping = true;
    if (this.rateTimer !== undefined) clearInterval(this.rateTimer);
    for (const pr of this.producers) pr.client.close();
    for (const c of this.consumers) c.close();
  }
}

/** Runs a Flow: warm-up, then one measured window (phase ""). */
export async function flow(target: Target, hooks: Hooks, p: FlowParams): Promise<ScenarioResult> {
  const watch = new Watch(p.limits.stallMs);
  const f = new Flow(target, p, watch);
  try {
    await f.start();
    await watch.until(p.limits.warmupMs, () => f.exhausted, f.progress);
    return { '': await f.measure('', hooks) };
  } finally {
    f.stop();
  }
}

// --- backlog: fill, (restart), drain ----------------------------------------------------------

export interface BacklogFillParams {
  queue: string;
  messages: number;
  size: number;
  /** Messages per receipt (the last message of each batch asks for one). */
  receiptEvery: number;
  /** Receipts awaited at most at once: bounds the messages in flight. */
  receiptsInFlight: number;
  maxMs: number;
  stallMs: number;
  progress?: (line: string) => void;
}

/** Fills a queue with persistent messages whose bodies start with their number (1..N). */
export async function backlogFill(
  target: Target,
  hooks: Hooks,
  p: BacklogFillParams,
): Promise<PhaseFigures & { filled: number }> {
  const watch = new Watch(p.stallMs);
  const c = watch.guard(await RawClient.connect(target), 'backlog producer');
  const builder = new SendBuilder(p.queue, p.size, true);
  let sent = 0;
  let receipted = 0;
  let blocked = false;
  let stopping = false;
  c.onFrame = (head) => {
    if (head[0] === CH_R) {
      const n = receiptNumber(head);
      if (n > receipted) receipted = n;
    } else if (head[0] === CH_E) watch.fail(errorFrame(head));
  };
  const topUp = (): void => {
    while (!stopping && !blocked && sent < p.messages) {
      if (sent - receipted >= p.receiptEvery * p.receiptsInFlight) return;
      const first = sent + 1;
      const n = Math.min(p.receiptEvery - (sent % p.receiptEvery), p.messages - sent);
      const last = first + n - 1;
      const buf = builder.build(
        n,
        (i) => (first + i === last ? last : -1),
        (i) => first + i,
      );
      sent = last;
      if (!c.write(buf)) blocked = true;
    }
  };
  c.onChunkEnd = topUp;
  c.onDrain = () => {
    blocked = false;
    topUp();
  };
  let nextReport = performance.now() + 5000;
  hooks.begin('fill');
  const cpu0 = cpuNow();
  const t0 = performance.now();
  try {
    topUp();
    await watch.until(
      p.maxMs,
      () => {
        if (p.progress !== undefined && performance.now() > nextReport) {
          nextReport += 5000;
          const s = (performance.now() - t0) / 1000;
          p.progress(`fill ${receipted}/${p.messages} in ${s.toFixed(0)} s`);
        }
        return receipted >= p.messages;
      },
      () => receipted,
    );
    // Out of time: send no more, and wait for the receipt of the last batch sent.
    stopping = true;
    await watch.until(
      p.stallMs,
      () => receipted >= sent,
      () => receipted,
    );
  } finally {
    stopping = true;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuNow() - cpu0;
  hooks.end('fill');
  await c.disconnect().catch(() => c.close());
  return {
    filled: receipted,
    messages: receipted,
    seconds: round(seconds, 3),
    msgsPerSec: Math.round(receipted / seconds),
    mbPerSec: round((receipted * p.size) / seconds / 1e6, 2),
    genCpu: round(cpu / seconds, 2),
    ...(receipted < p.messages ? { notes: `time ran out after ${receipted} messages` } : {}),
  };
}

export interface BacklogDrainParams {
  queue: string;
  /** Messages expected: bodies numbered 1..expected. */
  expected: number;
  size: number;
  ack: 'auto' | 'client-individual';
  prefetch: number;
  maxMs: number;
  stallMs: number;
  progress?: (line: string) => void;
}

/** Drains a queue filled by backlogFill with one consumer; checks order and completeness. */
export async function backlogDrain(
  target: Target,
  hooks: Hooks,
  p: BacklogDrainParams,
): Promise<PhaseFigures & { received: number; missing: number; duplicates: number }> {
  const watch = new Watch(p.stallMs);
  const c = watch.guard(await RawClient.connect(target), 'backlog consumer');
  const seen = new Uint8Array(p.expected + 1);
  let received = 0;
  let unique = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let foreign = 0;
  let last = 0;
  let acks: string[] = [];
  c.onFrame = (head) => {
    if (head[0] === CH_M) {
      received++;
      const n = bodyNumber(head);
      if (n < 1 || n > p.expected) foreign++;
      else if (seen[n] === 1) duplicates++;
      else {
        seen[n] = 1;
        unique++;
      }
      if (n !== last + 1) outOfOrder++;
      last = n;
      if (p.ack !== 'auto') {
        const id = headerOf(head, ACK_HEADER);
        if (id === undefined) watch.fail(new Error('MESSAGE without an ack header'));
        else acks.push(`ACK\nid:${id}\n\n\0`);
      }
    } else if (head[0] === CH_E) watch.fail(errorFrame(head));
  };
  c.onChunkEnd = () => {
    if (acks.length > 0) {
      c.write(acks.join(''));
      acks = [];
    }
  };
  let nextReport = performance.now() + 5000;
  hooks.begin('drain');
  const cpu0 = cpuNow();
  const t0 = performance.now();
  await c.subscribe(p.queue, 'd0', p.ack, p.ack === 'auto' ? undefined : p.prefetch);
  const end = await watch.until(
    p.maxMs,
    () => {
      if (p.progress !== undefined && performance.now() > nextReport) {
        nextReport += 5000;
        const s = (performance.now() - t0) / 1000;
        p.progress(`drain ${unique}/${p.expected} in ${s.toFixed(0)} s`);
      }
      return unique >= p.expected;
    },
    () => received,
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuNow() - cpu0;
  hooks.end('drain');
  // The ACKs before DISCONNECT are handled once its RECEIPT is back.
  await c.disconnect().catch(() => c.close());
  const notes: string[] = [];
  if (end === 'time') notes.push(`time ran out after ${unique} of ${p.expected}`);
  if (outOfOrder > 0) notes.push(`${outOfOrder} out of order`);
  if (duplicates > 0) notes.push(`${duplicates} duplicates`);
  if (foreign > 0) notes.push(`${foreign} unknown bodies`);
  return {
    received,
    missing: p.expected - unique,
    duplicates,
    messages: received,
    seconds: round(seconds, 3),
    msgsPerSec: Math.round(received / seconds),
    mbPerSec: round((received * p.size) / seconds / 1e6, 2),
    genCpu: round(cpu / seconds, 2),
    ...(notes.length > 0 ? { notes: notes.join('; ') } : {}),
  };
}

// --- as a child process ------------------------------------------------------------------------

/** Orders from the parent (bench/broker.ts) over IPC. */
export type ChildOrder =
  | { type: 'persistent'; target: Target; params: PersistentParams }
  | { type: 'transient'; target: Target; params: TransientParams }
  | { type: 'flow'; target: Target; params: FlowParams }
  | {
      type: 'alongside';
      target: Target;
      params: { transient: TransientParams; persistent: PersistentParams };
    };

export type ChildReport =
  | { type: 'begin'; phase: string }
  | { type: 'end'; phase: string }
  | { type: 'result'; result: ScenarioResult }
  | { type: 'error'; message: string };

async function runOrder(order: ChildOrder, hooks: Hooks): Promise<ScenarioResult> {
  switch (order.type) {
    case 'persistent':
      return persistentReceipt(order.target, hooks, order.params);
    case 'transient':
      return transientQueue(order.target, hooks, order.params);
    case 'flow':
      return flow(order.target, hooks, order.params);
    case 'alongside':
      return transientAlongside(order.target, hooks, order.params);
  }
}

if (process.send !== undefined && process.env.COILMQ_BENCH_LOAD_CHILD === '1') {
  const send = (m: ChildReport): void => {
    process.send!(m);
  };
  process.once('message', (order: ChildOrder) => {
    const hooks: Hooks = {
      begin: (phase) => send({ type: 'begin', phase }),
      end: (phase) => send({ type: 'end', phase }),
    };
    runOrder(order, hooks).then(
      (result) => send({ type: 'result', result }),
      (err: unknown) => send({ type: 'error', message: (err as Error).stack ?? String(err) }),
    );
  });
}
