/**
 * The writer of the SQLite store, run in a worker thread so that commits (and their
 * fsyncs) never stall the thread that serves sockets. It owns the only read-write
 * connection: it opens the database, creates the schema, answers with what the store
 * holds, then commits each batch it is sent in one transaction and acknowledges it.
 * It can also answer reads (`load`) when the store is configured to read through it.
 *
 * The messages exchanged with the store (src/store/sqlite.ts) are declared here; the
 * store imports only their types.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** What the store passes as workerData. */
export interface WriterConfig {
  /** Marks workerData as this writer's, so that importing this module elsewhere runs nothing. */
  coilmqSqliteWriter: true;
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  /** PRAGMA max_page_count for the writer (tests use it to make the database "full"). */
  maxPageCount?: number;
}

/** A message to add: its body is `bodies[offset, offset + length)` of its batch. */
export interface AddRecord {
  seq: number;
  queue: string;
  id: string;
  /** The headers as a JSON array of strings. */
  headers: string;
  deliveries: number;
  offset: number;
  length: number;
}

/** A loaded row: its body is `bodies[offset, offset + length)` of its answer. */
export type LoadedRow = AddRecord;

export type ToWriter =
  | {
      type: 'batch';
      id: number;
      adds: AddRecord[];
      /** Every added body, end to end (transferred, not copied). */
      bodies: ArrayBuffer;
      removes: number[];
      /** [seq, deliveries, seq, deliveries, ...] */
      deliveries: number[];
      /** Highest seq among the adds (0 if none). */
      maxSeq: number;
    }
  | { type: 'load'; id: number; queue: string; afterSeq: number; limit: number }
  | { type: 'close' };

export interface QueueCount {
  name: string;
  count: number;
}

export type FromWriter =
  | { type: 'opened'; queues: QueueCount[]; maxSeq: number }
  | { type: 'open-failed'; message: string }
  | { type: 'committed'; id: number; micros: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'loaded'; id: number; rows: LoadedRow[]; bodies: ArrayBuffer }
  | { type: 'load-failed'; id: number; message: string; code?: string }
  | { type: 'closed' };

/** The schema this code writes and reads. A database with another version is refused. */
export const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX messages_queue_seq ON messages (queue, seq);
`;

export const LOAD_SQL =
  'SELECT seq, queue, id, headers, body, deliveries FROM messages' +
  ' WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?';

/** "message (SQLITE_CODE)", the way both threads describe a SQLite error. */
export function describeError(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string'
      ? { message: `${err.message} (${code})`, code }
      : { message: err.message };
  }
  return { message: String(err) };
}

/**
 * Opens (creating if need be) the database at `config.path`: WAL, the configured
 * synchronous level, and the schema, refusing a file that is not a coilmq store.
 * Throws an Error saying why it cannot.
 */
function openDatabase(config: WriterConfig): Database.Database {
  const db = new Database(config.path);
  try {
    // The first statement reads the header: a file that is not SQLite fails here.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`cannot use WAL journal mode (SQLite answered ${mode})`);
    db.pragma(`synchronous = ${config.synchronous}`);
    // Shrink a WAL that a burst made large, once it has been checkpointed.
    db.pragma('journal_size_limit = 67108864');
    db.pragma('cache_size = -16384');
    if (config.maxPageCount !== undefined) db.pragma(`max_page_count = ${config.maxPageCount}`);

    db.transaction(() => {
      const tables = (
        db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
          .all() as Array<{ name: string }>
      ).map((t) => t.name);
      if (tables.length === 0) {
        db.exec(SCHEMA);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('schema_version', SCHEMA_VERSION);
        put.run('max_seq', 0);
        return;
      }
      if (!tables.includes('meta') || !tables.includes('messages')) {
        throw new Error(
          `it is an SQLite database but not a coilmq store (its tables: ${tables.join(', ')})`,
        );
      }
      const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
        { value: number } | undefined;
      if (row === undefined) throw new Error('it has no coilmq schema version');
      if (row.value !== SCHEMA_VERSION) {
        throw new Error(
          `its schema version is ${row.value}; this coilmq reads version ${SCHEMA_VERSION}`,
        );
      }
    }).immediate();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function contents(db: Database.Database): { queues: QueueCount[]; maxSeq: number } {
  const queues = db
    .prepare('SELECT queue AS name, count(*) AS count FROM messages GROUP BY queue ORDER BY queue')
    .all() as QueueCount[];
  const meta = db.prepare("SELECT value FROM meta WHERE key = 'max_seq'").get() as
    { value: number } | undefined;
  const top = db.prepare('SELECT max(seq) AS seq FROM messages').get() as { seq: number | null };
  return { queues, maxSeq: Math.max(meta?.value ?? 0, top.seq ?? 0) };
}

/** Packs rows from LOAD_SQL into records plus one buffer of bodies, for transfer. */
function packRows(
  rows: Array<{
    seq: number;
    queue: string;
    id: string;
    headers: string;
    body: Buffer | null;
    deliveries: number;
  }>,
): { rows: LoadedRow[]; bodies: ArrayBuffer } {
  let total = 0;
  for (const r of rows) total += r.body?.length ?? 0;
  const bodies = new ArrayBuffer(total);
  const view = new Uint8Array(bodies);
  const out: LoadedRow[] = [];
  let offset = 0;
  for (const r of rows) {
    const length = r.body?.length ?? 0;
    if (r.body !== null) view.set(r.body, offset);
    out.push({
      seq: r.seq,
      queue: r.queue,
      id: r.id,
      headers: r.headers,
      deliveries: r.deliveries,
      offset,
      length,
    });
    offset += length;
  }
  return { rows: out, bodies };
}

function run(port: NonNullable<typeof parentPort>, config: WriterConfig): void {
  const post = (m: FromWriter, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
  let db: Database.Database;
  try {
    db = openDatabase(config);
    post({ type: 'opened', ...contents(db) });
  } catch (err) {
    post({ type: 'open-failed', message: describeError(err).message });
    port.close();
    return;
  }

  const insert = db.prepare(
    'INSERT OR REPLACE INTO messages (seq, queue, id, headers, body, deliveries)' +
      ' VALUES (?, ?, ?, ?, ?, ?)',
  );
  const remove = db.prepare('DELETE FROM messages WHERE seq = ?');
  const deliveries = db.prepare('UPDATE messages SET deliveries = ? WHERE seq = ?');
  const bumpMaxSeq = db.prepare("UPDATE meta SET value = ? WHERE key = 'max_seq' AND value < ?");
  const load = db.prepare(LOAD_SQL);

  const commit = db.transaction((b: Extract<ToWriter, { type: 'batch' }>) => {
    for (const a of b.adds) {
      const body = Buffer.from(b.bodies, a.offset, a.length);
      insert.run(a.seq, a.queue, a.id, a.headers, body, a.deliveries);
    }
    for (const seq of b.removes) remove.run(seq);
    for (let i = 0; i < b.deliveries.length; i += 2) {
      deliveries.run(b.deliveries[i + 1], b.deliveries[i]);
    }
    if (b.maxSeq > 0) bumpMaxSeq.run(b.maxSeq, b.maxSeq);
  });

  port.on('message', (m: ToWriter) => {
    switch (m.type) {
      case 'batch': {
        const start = performance.now();
        try {
          commit(m);
          post({
            type: 'committed',
            id: m.id,
            micros: Math.round((performance.now() - start) * 1000),
          });
        } catch (err) {
          // better-sqlite3 rolls back a transaction whose function throws; a failed COMMIT
          // can leave one open, which must not swallow the next batch.
          if (db.inTransaction) {
            try {
              db.exec('ROLLBACK');
            } catch {
              // Nothing more to undo.
            }
          }
          post({ type: 'failed', id: m.id, ...describeError(err) });
        }
        return;
      }
      case 'load': {
        try {
          const packed = packRows(load.all(m.queue, m.afterSeq, m.limit) as never);
          post({ type: 'loaded', id: m.id, ...packed }, [packed.bodies]);
        } catch (err) {
          post({ type: 'load-failed', id: m.id, ...describeError(err) });
        }
        return;
      }
      case 'close': {
        try {
          db.close();
        } finally {
          post({ type: 'closed' });
          port.close();
        }
        return;
      }
    }
  });
}

const config = workerData as WriterConfig | undefined;
if (parentPort !== null && config?.coilmqSqliteWriter === true) run(parentPort, config);
