/**
 * The writer of the SQLite store, run in a worker thread so that commits (and their
 * fsyncs) never stall the thread that serves sockets. It owns the only read-write
 * connection: it opens the database, creates the schema, answers with what the store
 * holds, then commits each batch it is sent in one transaction and acknowledges it.
 * It can also answer reads (`load`) when the store is configured to read through it.
 *
 * It is plain JavaScript (checked by tsc through its JSDoc) so that the same file runs as
 * the worker from src/ under tsx and from dist/ once built, with no TypeScript loader in
 * the worker (see startWriter in sqlite.ts). So it imports only Node's modules,
 * better-sqlite3 and sqlite-shared.js, never a .ts module.
 */
/** @import { FromWriter, LoadedRow, QueueCount, ToWriter, WriterConfig } from './sqlite-protocol.js' */
/** @typedef {Extract<ToWriter, { type: 'batch' }>} BatchMessage */
/** @typedef {import('better-sqlite3').Database} Db */
/**
 * A row of LOAD_SQL.
 * @typedef {{ seq: number; queue: string; id: string; headers: string; body: Buffer | null; deliveries: number }} Row
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { describeError, LOAD_SQL } from './sqlite-shared.js';

/** The schema this code writes and reads. A database with another version is refused. */
const SCHEMA_VERSION = 1;

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

/**
 * Opens (creating if need be) the database at `config.path`: WAL, the configured
 * synchronous level, and the schema, refusing a file that is not a coilmq store.
 * Throws an Error saying why it cannot.
 * @param {WriterConfig} config
 * @returns {Db}
 */
function openDatabase(config) {
  const db = new Database(config.path);
  try {
    // The first statement reads the header: a file that is not SQLite fails here.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`cannot use WAL journal mode (SQLite answered ${mode})`);
    db.pragma(`synchronous = ${config.synchronous}`);
    // Shrink a WAL that a burst made large, once it has been checkpointed.
    db.pragma('journal_size_limit = 67108864');
    db.pragma('cache_size = -16384');
    if (config.maxDatabaseBytes !== undefined) {
      // SQLite bounds the file in pages; a database already larger keeps its size.
      const pageSize = /** @type {number} */ (db.pragma('page_size', { simple: true }));
      const pages = Math.max(1, Math.floor(config.maxDatabaseBytes / pageSize));
      db.pragma(`max_page_count = ${pages}`);
    }

    db.transaction(() => {
      const tables = /** @type {Array<{ name: string }>} */ (
        db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()
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
      const row = /** @type {{ value: number } | undefined} */ (
        db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()
      );
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

/**
 * @param {Db} db
 * @returns {{ queues: QueueCount[]; maxSeq: number }}
 */
function contents(db) {
  const queues = /** @type {QueueCount[]} */ (
    db
      .prepare(
        'SELECT queue AS name, count(*) AS count FROM messages GROUP BY queue ORDER BY queue',
      )
      .all()
  );
  const meta = /** @type {{ value: number } | undefined} */ (
    db.prepare("SELECT value FROM meta WHERE key = 'max_seq'").get()
  );
  const top = /** @type {{ seq: number | null }} */ (
    db.prepare('SELECT max(seq) AS seq FROM messages').get()
  );
  return { queues, maxSeq: Math.max(meta?.value ?? 0, top.seq ?? 0) };
}

/**
 * Packs rows from LOAD_SQL into records plus one buffer of bodies, for transfer.
 * @param {Row[]} rows
 * @returns {{ rows: LoadedRow[]; bodies: ArrayBuffer }}
 */
function packRows(rows) {
  let total = 0;
  for (const r of rows) total += r.body?.length ?? 0;
  const bodies = new ArrayBuffer(total);
  const view = new Uint8Array(bodies);
  /** @type {LoadedRow[]} */
  const out = [];
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

/**
 * @param {import('node:worker_threads').MessagePort} port
 * @param {WriterConfig} config
 */
function run(port, config) {
  /**
   * @param {FromWriter} m
   * @param {ArrayBuffer[]} [transfer]
   */
  const post = (m, transfer) => port.postMessage(m, transfer);
  /** @type {Db} */
  let db;
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

  const commit = db.transaction(
    /** @param {BatchMessage} b */
    (b) => {
      for (const a of b.adds) {
        const body = Buffer.from(b.bodies, a.offset, a.length);
        insert.run(a.seq, a.queue, a.id, a.headers, body, a.deliveries);
      }
      for (const seq of b.removes) remove.run(seq);
      for (let i = 0; i < b.deliveries.length; i += 2) {
        deliveries.run(b.deliveries[i + 1], b.deliveries[i]);
      }
      if (b.maxSeq > 0) bumpMaxSeq.run(b.maxSeq, b.maxSeq);
    },
  );

  port.on(
    'message',
    /** @param {ToWriter} m */
    (m) => {
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
            const rows = /** @type {Row[]} */ (load.all(m.queue, m.afterSeq, m.limit));
            const packed = packRows(rows);
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
    },
  );
}

if (parentPort === null) {
  throw new Error('sqlite-writer.js runs as the SQLite store writer thread, started by sqlite.ts');
}
run(parentPort, /** @type {WriterConfig} */ (workerData));
