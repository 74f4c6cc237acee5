/**
 * The durable store: queued messages in an embedded SQLite database (better-sqlite3, WAL).
 *
 * Writes are group-committed. add, remove and setDeliveries only record the change in an
 * open batch, coalesced per seq (an add then a remove of the same message in one batch
 * writes nothing; setDeliveries on a pending add updates the pending record). At the end
 * of the event-loop turn (or after `batchWindowMs`) the batch goes to the writer, a
 * worker thread (sqlite-writer.js) that commits it in one transaction and acknowledges
 * it; `sync` callbacks run, in order, once the batch holding every earlier write has
 * committed. One batch is in flight at a time: what is written while it commits gathers
 * in the next batch, so batches grow with the load and each commit's fsync is shared.
 *
 * The writer is a worker so that fsyncs (milliseconds each with synchronous=FULL) never
 * stall the thread serving sockets. Reads (`load`) by default use a read-only connection
 * on the calling thread, which WAL lets read beside the writer without waiting for its
 * commits; `reads: 'worker'` sends them through the writer instead (bench/store.ts
 * measures both).
 *
 * When a commit fails (disk full, read-only file), its batch is rolled back, so what was
 * committed before is untouched; the `sync` callbacks waiting on it get the error, and its
 * writes are kept, ahead of newer ones, to be tried again with the next batch. A later
 * `sync` therefore succeeds only once they are on disk too, as its contract says; a caller
 * that gives up on a message it added can `remove` it, which cancels the pending add.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Store, StoreContents, StoredMessage } from './store.js';
import type {
  AddRecord,
  FromWriter,
  LoadedRow,
  ToWriter,
  WriterConfig,
} from './sqlite-protocol.js';
import { describeError, LOAD_SQL } from './sqlite-shared.js';

export interface SqliteStoreOptions {
  /** The database file; its directory is created if missing. */
  path: string;
  /** 'FULL' (default): a commit is on disk when acknowledged. 'NORMAL': survives a crash of the process, not of the machine. */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a batch gathers writes before it is committed; 0 (default) is one event-loop turn. */
  batchWindowMs?: number;
  /** Where `load` reads: 'main' (default), a read-only connection on this thread; or 'worker', through the writer. */
  reads?: 'main' | 'worker';
  /**
   * The most bytes the database file may hold (default: no bound), so that a backlog cannot
   * fill a disk that other programs need. Past it a commit fails as on a full disk: the
   * senders of its messages get an error instead of a RECEIPT, and what was committed before
   * stays. SQLite counts it in whole pages (4 KiB by default); the write-ahead log beside the
   * file is not included, and a database already larger keeps its size.
   */
  maxDatabaseBytes?: number;
}

export interface SqliteStoreStats {
  /** Transactions committed. */
  batches: number;
  /** Row writes (inserts, deletes, updates) in those transactions. */
  writes: number;
  /** Transactions that failed and were rolled back. */
  failures: number;
  /** Time spent committing in the writer, in milliseconds. */
  commitMs: number;
}

type Done = (err?: Error) => void;

type Op =
  /** `mayExist`: the row may already be on disk (the add replaced a pending remove or update). */
  | { kind: 'add'; message: StoredMessage; mayExist: boolean }
  | { kind: 'remove' }
  | { kind: 'deliveries'; deliveries: number };

interface Batch {
  ops: Map<number, Op>;
  callbacks: Done[];
}

/** Records `op` on `seq` after whatever `ops` already holds for it. */
function put(ops: Map<number, Op>, seq: number, op: Op): void {
  const prev = ops.get(seq);
  if (prev === undefined) {
    ops.set(seq, op);
    return;
  }
  switch (op.kind) {
    case 'add':
      ops.set(seq, { ...op, mayExist: op.mayExist || prev.kind !== 'add' || prev.mayExist });
      return;
    case 'remove':
      // An add that never reached the disk needs no delete.
      if (prev.kind === 'add' && !prev.mayExist) ops.delete(seq);
      else ops.set(seq, op);
      return;
    case 'deliveries':
      if (prev.kind === 'add') {
        ops.set(seq, { ...prev, message: { ...prev.message, deliveries: op.deliveries } });
      } else if (prev.kind === 'deliveries') {
        ops.set(seq, op);
      }
      // After a remove there is nothing to update.
      return;
  }
}

function newBatch(): Batch {
  return { ops: new Map(), callbacks: [] };
}

/** Runs callbacks in order; one that throws does not stop the others (its error is rethrown apart). */
function callAll(callbacks: Done[], err?: Error): void {
  for (const cb of callbacks) {
    try {
      cb(err);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }
}

/**
 * Starts the writer, ./sqlite-writer.js: a JavaScript file both in src/ and, once built, in
 * dist/, so that one path serves both. The writer is given none of this thread's Node
 * options (`execArgv`): it needs no preload, and under tsx (`--import tsx`) each writer
 * would otherwise register tsx again, which makes every store open much slower.
 */
function startWriter(config: WriterConfig): Worker {
  return new Worker(new URL('./sqlite-writer.js', import.meta.url), {
    workerData: config,
    execArgv: [],
    resourceLimits: WRITER_LIMITS,
  });
}

/**
 * The writer holds one batch at a time (bounded by maxStorePendingBytes upstream); a small
 * heap makes it collect early instead of growing the process's memory.
 */
const WRITER_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 };

function toMessage(r: LoadedRow, body: Buffer): StoredMessage {
  return {
    seq: r.seq,
    id: r.id,
    queue: r.queue,
    headers: JSON.parse(r.headers) as string[],
    body,
    deliveries: r.deliveries,
  };
}

export class SqliteStore implements Store {
  readonly path: string;
  private readonly synchronous: 'FULL' | 'NORMAL';
  private readonly batchWindowMs: number;
  private readonly reads: 'main' | 'worker';
  private readonly maxDatabaseBytes: number | undefined;

  private state: 'new' | 'opening' | 'open' | 'closing' | 'closed' = 'new';
  private worker: Worker | undefined;
  private reader: Database.Database | undefined;
  private readStmt: Database.Statement | undefined;
  /** Set when the writer has stopped unexpectedly: every later sync gets it. */
  private broken: Error | undefined;

  private open_: Batch = newBatch();
  private inFlight: (Batch & { id: number; writes: number }) | undefined;
  private openBytes = 0;
  private inFlightBytes = 0;
  /** The open batch's time has come; it goes as soon as no batch is in flight. */
  private due = false;
  private timer:
    | { kind: 'timeout'; handle: ReturnType<typeof setTimeout> }
    | { kind: 'immediate'; handle: ReturnType<typeof setImmediate> }
    | undefined;
  private nextId = 1;
  private readonly loads = new Map<
    number,
    { resolve: (m: StoredMessage[]) => void; reject: (e: Error) => void }
  >();
  /** Called after each commit acknowledgement or failure (close waits on them). */
  private ackWaiters: Done[] = [];
  private readonly counters: SqliteStoreStats = { batches: 0, writes: 0, failures: 0, commitMs: 0 };
  private closing: Promise<void> | undefined;
  /** The writer was asked to close: its exit is expected. */
  private closeSent = false;
  private opening: Promise<StoreContents> | undefined;

  constructor(options: SqliteStoreOptions) {
    this.path = resolve(options.path);
    this.synchronous = options.synchronous ?? 'FULL';
    this.batchWindowMs = Math.max(0, options.batchWindowMs ?? 0);
    this.reads = options.reads ?? 'main';
    this.maxDatabaseBytes = options.maxDatabaseBytes;
    if (this.synchronous !== 'FULL' && this.synchronous !== 'NORMAL') {
      throw new Error(`synchronous must be FULL or NORMAL, not ${String(this.synchronous)}`);
    }
    const max = this.maxDatabaseBytes;
    if (max !== undefined && !(Number.isSafeInteger(max) && max > 0)) {
      throw new Error(`maxDatabaseBytes must be a positive integer, not ${String(max)}`);
    }
  }

  /** Counters since the store was created. */
  stats(): SqliteStoreStats {
    return { ...this.counters };
  }

  open(): Promise<StoreContents> {
    if (this.state !== 'new' && this.state !== 'closed') {
      return Promise.reject(new Error(`the store ${this.path} is already open`));
    }
    this.state = 'opening';
    this.opening = this.openWriter();
    return this.opening;
  }

  private async openWriter(): Promise<StoreContents> {
    this.broken = undefined;
    this.closing = undefined;
    this.open_ = newBatch();
    this.inFlight = undefined;
    this.due = false;
    this.ackWaiters = [];
    this.closeSent = false;
    const fail = (reason: string): Error => {
      this.state = 'closed';
      return new Error(`cannot open the store ${this.path}: ${reason}`);
    };

    const dir = dirname(this.path);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw fail(`cannot create its directory ${dir}: ${describeError(err).message}`);
    }

    const config: WriterConfig = {
      path: this.path,
      synchronous: this.synchronous,
      ...(this.maxDatabaseBytes !== undefined ? { maxDatabaseBytes: this.maxDatabaseBytes } : {}),
    };
    let worker: Worker;
    try {
      worker = startWriter(config);
    } catch (err) {
      throw fail(`cannot start its writer thread: ${describeError(err).message}`);
    }

    const first = await new Promise<FromWriter | Error>((resolve) => {
      const onMessage = (m: FromWriter): void => {
        cleanup();
        resolve(m);
      };
      const onError = (err: Error): void => {
        cleanup();
        resolve(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        resolve(new Error(`its writer thread exited with code ${code}`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });

    if (first instanceof Error || first.type !== 'opened') {
      await worker.terminate();
      const reason =
        first instanceof Error
          ? describeError(first).message
          : first.type === 'open-failed'
            ? first.message
            : `unexpected answer ${first.type}`;
      throw fail(reason);
    }

    if (this.reads === 'main') {
      try {
        this.reader = new Database(this.path, { readonly: true, fileMustExist: true });
        this.readStmt = this.reader.prepare(LOAD_SQL);
      } catch (err) {
        this.reader?.close();
        this.reader = undefined;
        await worker.terminate();
        throw fail(`cannot open a reader on it: ${describeError(err).message}`);
      }
    }

    this.worker = worker;
    // Events of this worker only: a later open() has a worker of its own.
    worker.on('message', (m: FromWriter) => {
      if (this.worker === worker) this.onMessage(m);
    });
    worker.on('error', (err) => {
      if (this.worker === worker) this.onBroken(err);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker && !this.closeSent) {
        this.onBroken(new Error(`exited with code ${code}`));
      }
    });
    worker.unref();
    this.state = 'open';
    return { queues: first.queues, maxSeq: first.maxSeq };
  }

  /**
   * Bytes of message bodies waiting to be written (in the open batch and the one being
   * committed). The broker stops reading from producers while this is high, so that a
   * disk slower than the network cannot fill memory.
   */
  get pendingBytes(): number {
    return this.openBytes + this.inFlightBytes;
  }

  add(message: StoredMessage): void {
    this.check();
    // Copy the record (not the body, which must not change), as the memory store does.
    const copy = { ...message, headers: [...message.headers] };
    put(this.open_.ops, message.seq, { kind: 'add', message: copy, mayExist: false });
    this.openBytes += message.body.length;
    this.schedule();
  }

  remove(seq: number): void {
    this.check();
    const prev = this.open_.ops.get(seq);
    if (prev?.kind === 'add') this.openBytes -= prev.message.body.length;
    put(this.open_.ops, seq, { kind: 'remove' });
    this.schedule();
  }

  setDeliveries(seq: number, deliveries: number): void {
    this.check();
    put(this.open_.ops, seq, { kind: 'deliveries', deliveries });
    this.schedule();
  }

  sync(done: Done): void {
    const error =
      this.broken ??
      (this.state === 'open' ? undefined : new Error(`the store ${this.path} is not open`));
    if (error !== undefined) {
      queueMicrotask(() => done(error));
      return;
    }
    if (this.open_.ops.size > 0 || this.open_.callbacks.length > 0) {
      this.open_.callbacks.push(done);
      this.schedule();
    } else if (this.inFlight !== undefined) {
      this.inFlight.callbacks.push(done);
    } else {
      queueMicrotask(() => done());
    }
  }

  load(queue: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    if (this.state !== 'open') {
      return Promise.reject(new Error(`the store ${this.path} is not open`));
    }
    if (limit <= 0) return Promise.resolve([]);
    if (this.readStmt !== undefined) {
      try {
        const rows = this.readStmt.all(queue, afterSeq, limit) as Array<
          LoadedRow & { body: Buffer | null }
        >;
        return Promise.resolve(rows.map((r) => toMessage(r, r.body ?? Buffer.alloc(0))));
      } catch (err) {
        return Promise.reject(
          new Error(`cannot read the store ${this.path}: ${describeError(err).message}`),
        );
      }
    }
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.loads.set(id, { resolve, reject });
      this.post({ type: 'load', id, queue, afterSeq, limit });
    });
  }

  close(): Promise<void> {
    if (this.state === 'new' || this.state === 'closed') {
      this.state = 'closed';
      return Promise.resolve();
    }
    if (this.closing === undefined) this.closing = this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.state === 'opening') {
      try {
        await this.opening;
      } catch {
        return; // It did not open: nothing to close.
      }
    }
    this.state = 'closing';
    this.worker?.ref();
    let failure: Error | undefined;
    // Commit what is pending; give up at the first failure (its callbacks have the error).
    while (this.broken === undefined && failure === undefined) {
      if (this.inFlight === undefined) {
        if (this.open_.ops.size === 0 && this.open_.callbacks.length === 0) break;
        this.cancelTimer();
        this.due = true;
        this.pump();
      }
      if (this.inFlight !== undefined) {
        failure = await new Promise<Error | undefined>((resolve) => this.ackWaiters.push(resolve));
      }
    }
    failure ??= this.broken;
    this.cancelTimer();
    this.due = false;
    const left = this.open_;
    this.open_ = newBatch();
    callAll(left.callbacks, failure ?? new Error(`the store ${this.path} is closed`));

    this.reader?.close();
    this.reader = undefined;
    this.readStmt = undefined;
    const worker = this.worker;
    if (worker !== undefined) {
      if (this.broken === undefined) {
        // The writer answers the loads sent before this, then closes the database.
        this.closeSent = true;
        worker.ref();
        await new Promise<void>((resolve) => {
          const done = (): void => resolve();
          worker.once('exit', done);
          worker.on('message', (m: FromWriter) => {
            if (m.type === 'closed') done();
          });
          worker.postMessage({ type: 'close' } satisfies ToWriter);
        });
      }
      this.worker = undefined;
      await worker.terminate();
    }
    this.failLoads(new Error(`the store ${this.path} is closed`));
    this.state = 'closed';
    if (failure !== undefined) {
      throw new Error(
        `the store ${this.path} closed without committing its last writes: ${failure.message}`,
      );
    }
  }

  private check(): void {
    if (this.state !== 'open') {
      throw new Error(
        `the store ${this.path} is ${this.state === 'closing' ? 'closed' : 'not open'}`,
      );
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.due) return;
    this.timer =
      this.batchWindowMs > 0
        ? { kind: 'timeout', handle: setTimeout(this.onTimer, this.batchWindowMs) }
        : { kind: 'immediate', handle: setImmediate(this.onTimer) };
  }

  private cancelTimer(): void {
    if (this.timer?.kind === 'timeout') clearTimeout(this.timer.handle);
    else if (this.timer?.kind === 'immediate') clearImmediate(this.timer.handle);
    this.timer = undefined;
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.due = true;
    this.pump();
  };

  /** Sends the open batch to the writer if its time has come and none is in flight. */
  private pump(): void {
    if (!this.due || this.inFlight !== undefined || this.broken !== undefined) return;
    if (this.worker === undefined) return;
    this.due = false;
    const batch = this.open_;
    this.open_ = newBatch();
    if (batch.ops.size === 0) {
      this.openBytes = 0;
      // Everything coalesced away: nothing to write. The callbacks still wait for those of
      // the batch that has just committed, which run after this returns: sync callbacks run
      // in the order they were registered, which keeps receipts in frame order (README,
      // "Behaviour worth knowing").
      queueMicrotask(() => callAll(batch.callbacks));
      return;
    }

    const adds: AddRecord[] = [];
    const removes: number[] = [];
    const deliveries: number[] = [];
    let total = 0;
    let maxSeq = 0;
    for (const op of batch.ops.values()) if (op.kind === 'add') total += op.message.body.length;
    // A buffer of its own (not from Node's shared pool), so that it can be transferred.
    const bodies = Buffer.from(new ArrayBuffer(total));
    let offset = 0;
    for (const [seq, op] of batch.ops) {
      if (op.kind === 'add') {
        const m = op.message;
        m.body.copy(bodies, offset);
        adds.push({
          seq,
          queue: m.queue,
          id: m.id,
          headers: JSON.stringify(m.headers),
          deliveries: m.deliveries,
          offset,
          length: m.body.length,
        });
        offset += m.body.length;
        if (seq > maxSeq) maxSeq = seq;
      } else if (op.kind === 'remove') {
        removes.push(seq);
      } else {
        deliveries.push(seq, op.deliveries);
      }
    }
    const id = this.nextId++;
    this.inFlight = { ...batch, id, writes: batch.ops.size };
    this.inFlightBytes = this.openBytes;
    this.openBytes = 0;
    this.post({ type: 'batch', id, adds, bodies: bodies.buffer, removes, deliveries, maxSeq }, [
      bodies.buffer,
    ]);
  }

  private post(m: ToWriter, transfer?: ArrayBuffer[]): void {
    const worker = this.worker!;
    worker.ref();
    worker.postMessage(m, transfer);
  }

  /** Lets the process exit while the writer has nothing to do for us. */
  private idle(): void {
    if (this.state === 'closing') return; // until the writer has closed
    if (this.inFlight === undefined && this.loads.size === 0) this.worker?.unref();
  }

  private onMessage(m: FromWriter): void {
    switch (m.type) {
      case 'committed':
      case 'failed': {
        const batch = this.inFlight;
        if (batch === undefined || batch.id !== m.id) return;
        this.inFlight = undefined;
        this.inFlightBytes = 0;
        let error: Error | undefined;
        if (m.type === 'committed') {
          this.counters.batches++;
          this.counters.writes += batch.writes;
          this.counters.commitMs += m.micros / 1000;
        } else {
          this.counters.failures++;
          error = new Error(`cannot write to the store ${this.path}: ${m.message}`);
          if (m.code !== undefined) (error as Error & { code?: string }).code = m.code;
          // New messages of the failed batch are dropped: their senders get this error
          // instead of a RECEIPT, and one that can never fit (disk full, too large) must not
          // block every later commit. Removals and delivery counts are kept, ahead of the
          // newer writes, for the next batch.
          const merged = new Map<number, Op>();
          for (const [seq, op] of batch.ops) {
            if (op.kind !== 'add' || op.mayExist) merged.set(seq, op);
          }
          for (const [seq, op] of this.open_.ops) put(merged, seq, op);
          this.open_.ops = merged;
        }
        // Send the next batch before running callbacks, so the writer is not idle meanwhile.
        this.pump();
        this.idle();
        callAll(batch.callbacks, error);
        const waiters = this.ackWaiters;
        this.ackWaiters = [];
        for (const w of waiters) w(error);
        return;
      }
      case 'loaded':
      case 'load-failed': {
        const pending = this.loads.get(m.id);
        if (pending === undefined) return;
        this.loads.delete(m.id);
        this.idle();
        if (m.type === 'load-failed') {
          pending.reject(new Error(`cannot read the store ${this.path}: ${m.message}`));
        } else {
          // Each body a copy of its own, so that a message kept long does not keep the page.
          const all = new Uint8Array(m.bodies);
          pending.resolve(
            m.rows.map((r) =>
              toMessage(r, Buffer.from(all.subarray(r.offset, r.offset + r.length))),
            ),
          );
        }
        return;
      }
      default:
        return;
    }
  }

  /** The writer stopped: nothing pending can be committed any more. */
  private onBroken(cause: Error): void {
    if (this.broken !== undefined) return;
    const err = new Error(
      `the store ${this.path} stopped: its writer thread failed: ${cause.message}`,
    );
    this.broken = err;
    this.cancelTimer();
    const inFlight = this.inFlight;
    this.inFlight = undefined;
    const open = this.open_;
    this.open_ = newBatch();
    callAll(inFlight?.callbacks ?? [], err);
    callAll(open.callbacks, err);
    this.failLoads(err);
    const waiters = this.ackWaiters;
    this.ackWaiters = [];
    for (const w of waiters) w(err);
  }

  private failLoads(err: Error): void {
    const loads = [...this.loads.values()];
    this.loads.clear();
    for (const l of loads) l.reject(err);
  }
}
