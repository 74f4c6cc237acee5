/**
 * The SQLite store: the shared store suite (with its default options, and with reads
 * through the writer, a batch window and synchronous=NORMAL), then what only it does:
 * refusing databases it cannot use, failed commits, group commit, WAL and its schema.
 * Each test has a fresh temporary directory.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore } from '../../src/store/memory.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite.js';
import { loadAll, message, storeSuite, synced } from './store-suite.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'coilmq-store-'));
}

function suiteWith(name: string, options: Omit<SqliteStoreOptions, 'path'>): void {
  storeSuite(name, async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    return {
      store: new SqliteStore({ ...options, path }),
      reopen: async () => new SqliteStore({ ...options, path }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
}

suiteWith('sqlite', {});
suiteWith('sqlite (reads through the writer, 2 ms batch window, synchronous NORMAL)', {
  reads: 'worker',
  batchWindowMs: 2,
  synchronous: 'NORMAL',
});

/** A store in a fresh directory, closed and removed after the test. */
function fresh(
  t: TestContext,
  options: Omit<SqliteStoreOptions, 'path'> = {},
): { store: SqliteStore; dir: string; path: string } {
  const dir = tempDir();
  const path = join(dir, 'store.db');
  const store = new SqliteStore({ ...options, path });
  t.after(async () => {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir, path };
}

/** Opens another store on `path` for the test, closed after it. */
async function reopen(t: TestContext, path: string): Promise<SqliteStore> {
  const store = new SqliteStore({ path });
  t.after(() => store.close().catch(() => undefined));
  await store.open();
  return store;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

function syncError(store: SqliteStore): Promise<Error | undefined> {
  return new Promise((resolve) => store.sync(resolve));
}

describe('sqlite store', () => {
  describe('opening', () => {
    test('creates missing parent directories', async (t) => {
      const { store, dir } = fresh(t);
      const nested = new SqliteStore({ path: join(dir, 'a', 'b', 'c', 'store.db') });
      t.after(() => nested.close());
      assert.deepEqual(await nested.open(), { queues: [], maxSeq: 0 });
      assert.ok(store);
    });

    test('refuses a file that is not a database, naming it, and leaves it alone', async (t) => {
      const { store, path } = fresh(t);
      const garbage = Buffer.from('this is not an SQLite database\n'.repeat(500));
      writeFileSync(path, garbage);
      const err = await rejection(store.open());
      assert.match(err.message, /cannot open the store/);
      assert.ok(err.message.includes(path), `names the file: ${err.message}`);
      assert.match(err.message, /not a database/);
      assert.ok(readFileSync(path).equals(garbage), 'the file is unchanged');
      // The store is closed, not half open.
      assert.throws(() => store.add(message(1)), /not open/);
      await store.close();
    });

    test('refuses a database whose header is corrupt', async (t) => {
      const { store, path } = fresh(t);
      await store.open();
      store.add(message(1));
      await synced(store);
      await store.close();
      const bytes = readFileSync(path);
      bytes.write('Not SQLite form', 0, 'latin1'); // the 16-byte magic string
      writeFileSync(path, bytes);
      const again = new SqliteStore({ path });
      const err = await rejection(again.open());
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /not a database/);
    });

    test('refuses an SQLite database that is not a coilmq store', async (t) => {
      const { store, path } = fresh(t);
      const other = new Database(path);
      other.exec('CREATE TABLE users (name TEXT)');
      other.close();
      const err = await rejection(store.open());
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /not a coilmq store.*users/);
    });

    test('refuses a store written with another schema version', async (t) => {
      const { store, path } = fresh(t);
      await store.open();
      await store.close();
      const db = new Database(path);
      db.prepare("UPDATE meta SET value = 99 WHERE key = 'schema_version'").run();
      db.close();
      const again = new SqliteStore({ path });
      const err = await rejection(again.open());
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /schema version is 99/);
    });

    test('refuses a path that is a directory, or under a file', async (t) => {
      const { dir } = fresh(t);
      mkdirSync(join(dir, 'isdir'));
      const err1 = await rejection(new SqliteStore({ path: join(dir, 'isdir') }).open());
      assert.ok(err1.message.includes(join(dir, 'isdir')), err1.message);
      writeFileSync(join(dir, 'file'), 'x');
      const under = join(dir, 'file', 'store.db');
      const err2 = await rejection(new SqliteStore({ path: under }).open());
      assert.ok(err2.message.includes(under), err2.message);
      assert.match(err2.message, /cannot create its directory/);
    });

    test('refuses to open twice', async (t) => {
      const { store } = fresh(t);
      await store.open();
      await rejection(store.open());
    });

    test('the database is in WAL mode with the documented schema', async (t) => {
      const { store, path } = fresh(t);
      await store.open();
      store.add(message(3));
      await synced(store);
      const db = new Database(path, { readonly: true });
      t.after(() => db.close());
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const columns = (db.pragma('table_info(messages)') as Array<{ name: string }>).map(
        (c) => c.name,
      );
      assert.deepEqual(columns, ['seq', 'queue', 'id', 'headers', 'body', 'deliveries']);
      const index = db.pragma('index_info(messages_queue_seq)') as Array<{ name: string }>;
      assert.deepEqual(
        index.map((c) => c.name),
        ['queue', 'seq'],
      );
      const meta = Object.fromEntries(
        (
          db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: number }>
        ).map((r) => [r.key, r.value]),
      );
      assert.deepEqual(meta, { schema_version: 1, max_seq: 3 });
      const row = db.prepare('SELECT headers FROM messages').get() as { headers: string };
      assert.deepEqual(JSON.parse(row.headers), ['destination', '/queue/q', 'n', '3']);
    });
  });

  describe('group commit', () => {
    test('many writes and syncs in one turn make one transaction', async (t) => {
      const { store } = fresh(t);
      await store.open();
      const done: Array<Promise<void>> = [];
      for (let seq = 1; seq <= 200; seq++) {
        store.add(message(seq));
        done.push(synced(store));
      }
      await Promise.all(done);
      assert.deepEqual(
        { batches: store.stats().batches, writes: store.stats().writes },
        { batches: 1, writes: 200 },
      );
      store.remove(1);
      store.setDeliveries(2, 1);
      await Promise.all([synced(store), synced(store)]);
      assert.deepEqual(
        { batches: store.stats().batches, writes: store.stats().writes },
        { batches: 2, writes: 202 },
      );
    });

    test('an add removed in the same batch is never written', async (t) => {
      const { store } = fresh(t);
      await store.open();
      store.add(message(1));
      store.setDeliveries(1, 1);
      store.remove(1);
      await synced(store);
      assert.deepEqual(store.stats(), { batches: 0, writes: 0, failures: 0, commitMs: 0 });
    });

    test('writes made while a batch commits go together in the next one', async (t) => {
      const { store } = fresh(t);
      await store.open();
      store.add(message(1));
      const first = synced(store);
      // The first batch leaves at the end of this turn; these come in later turns, while
      // it is (most likely) still committing.
      const later: Array<Promise<void>> = [];
      for (let seq = 2; seq <= 50; seq++) {
        await new Promise((resolve) => setImmediate(resolve));
        store.add(message(seq));
        later.push(synced(store));
      }
      await first;
      await Promise.all(later);
      const { batches, writes } = store.stats();
      assert.equal(writes, 50);
      assert.ok(batches < 50, `${batches} transactions for 50 turns`);
      assert.equal((await store.load('q', 0, 100)).length, 50);
    });

    test('with a batch window, writes of several turns share a transaction', async (t) => {
      const { store } = fresh(t, { batchWindowMs: 30 });
      await store.open();
      const done: Array<Promise<void>> = [];
      for (let seq = 1; seq <= 5; seq++) {
        store.add(message(seq));
        done.push(synced(store));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(done);
      assert.equal(store.stats().batches, 1);
    });

    test('load reads committed writes only', async (t) => {
      const { store } = fresh(t);
      await store.open();
      store.add(message(1));
      assert.deepEqual(await store.load('q', 0, 10), [], 'not yet committed');
      await synced(store);
      assert.equal((await store.load('q', 0, 10)).length, 1);
    });
  });

  test('random writes, syncs and restarts agree with the memory store', async (t) => {
    const { store: first, path } = fresh(t, { batchWindowMs: 1 });
    let store: SqliteStore = first;
    await store.open();
    const model = new MemoryStore();
    await model.open();
    let state = 12345;
    const rand = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const queues = ['a', 'b', 'c'];
    let seq = 0;
    const live: number[] = [];
    const compare = async (what: string): Promise<void> => {
      for (const q of queues) {
        const want = await loadAll(model, q, 50);
        const got = await loadAll(store, q, 50);
        assert.deepEqual(got, want, `${what}: queue ${q}`);
      }
    };
    for (let round = 0; round < 30; round++) {
      const turns = 1 + rand(4);
      for (let turn = 0; turn < turns; turn++) {
        for (let i = rand(40); i > 0; i--) {
          const r = rand(10);
          if (r < 5 || live.length === 0) {
            const m = message(++seq, queues[rand(3)]!, Buffer.alloc(rand(300), seq % 256));
            store.add(m);
            model.add(m);
            live.push(seq);
          } else if (r < 8) {
            const [gone] = live.splice(rand(live.length), 1);
            store.remove(gone!);
            model.remove(gone!);
          } else {
            const target = live[rand(live.length)]!;
            const n = 1 + rand(5);
            store.setDeliveries(target, n);
            model.setDeliveries(target, n);
          }
        }
        if (rand(3) === 0) store.sync(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await synced(store);
      await compare(`round ${round}`);
      if (rand(5) === 0) {
        await store.close();
        store = await reopen(t, path);
        await compare(`round ${round}, reopened`);
      }
    }
    await store.close();
    store = new SqliteStore({ path });
    t.after(() => store.close());
    const contents = await store.open();
    const expected = await model.open();
    const byName = (x: { name: string }, y: { name: string }): number => (x.name < y.name ? -1 : 1);
    assert.deepEqual(contents.queues.sort(byName), expected.queues.sort(byName));
    assert.equal(contents.maxSeq, seq);
    await compare('at the end, reopened');
  });

  describe('failures', () => {
    test('R-03 sync callbacks keep their order when a later batch coalesces to nothing', async (t) => {
      const { store } = fresh(t);
      await store.open();
      const order: string[] = [];
      store.add(message(1));
      store.sync(() => order.push('first'));
      // Let the first batch go to the writer, then make a batch whose only write cancels out.
      await new Promise((r) => setImmediate(r));
      store.add(message(2));
      store.sync(() => order.push('second'));
      store.remove(2);
      await synced(store);
      assert.deepEqual(order, ['first', 'second']);
      await store.close();
    });

    test('a failed commit reaches sync; what was committed before survives', async (t) => {
      // The database is "full" at 16 pages of 4 KiB.
      const { store, path } = fresh(t, { maxDatabaseBytes: 16 * 4096 });
      await store.open();
      for (let seq = 1; seq <= 3; seq++) store.add(message(seq));
      await synced(store);

      store.add(message(10, 'q', Buffer.alloc(1024 * 1024, 7)));
      store.setDeliveries(1, 4); // in the same, failing, batch
      const err = await syncError(store);
      assert.ok(err instanceof Error, 'sync reports an error');
      assert.match(err.message, /full/);
      assert.ok(err.message.includes(path), `names the file: ${err.message}`);
      assert.equal((err as Error & { code?: string }).code, 'SQLITE_FULL');
      assert.equal(store.stats().failures, 1);
      assert.deepEqual(
        (await store.load('q', 0, 10)).map((m) => [m.seq, m.deliveries]),
        [
          [1, 0],
          [2, 0],
          [3, 0],
        ],
        'committed data is untouched, the failed batch left nothing',
      );

      // The failed batch's new message is dropped (its sender got the error); its other
      // writes are tried again with the next batch, which now fits.
      store.add(message(11));
      assert.equal(await syncError(store), undefined, 'one message that cannot fit blocks nothing');
      assert.deepEqual(
        (await store.load('q', 0, 20)).map((m) => [m.seq, m.deliveries]),
        [
          [1, 4],
          [2, 0],
          [3, 0],
          [11, 0],
        ],
      );
      await store.close();

      const again = await reopen(t, path);
      assert.deepEqual(seqs(await loadAll(again, 'q')), [1, 2, 3, 11]);
    });

    test('close reports writes it could not commit, and still closes', async (t) => {
      const { store, path } = fresh(t, { maxDatabaseBytes: 16 * 4096 });
      await store.open();
      store.add(message(1));
      await synced(store);
      store.add(message(2, 'q', Buffer.alloc(1024 * 1024)));
      const cb = syncError(store);
      const err = await rejection(store.close());
      assert.match(err.message, /closed without committing/);
      assert.ok((await cb) instanceof Error);
      const again = await reopen(t, path);
      assert.deepEqual(seqs(await loadAll(again, 'q')), [1]);
    });

    test('maxDatabaseBytes must be a positive integer', () => {
      for (const bad of [0, -4096, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        assert.throws(
          () => new SqliteStore({ path: 'unused.db', maxDatabaseBytes: bad }),
          /maxDatabaseBytes must be a positive integer/,
        );
      }
    });

    test('a database already larger than maxDatabaseBytes opens and keeps what it holds', async (t) => {
      const { store, path } = fresh(t);
      await store.open();
      store.add(message(1, 'q', Buffer.alloc(256 * 1024, 1)));
      await synced(store);
      await store.close();
      const small = new SqliteStore({ path, maxDatabaseBytes: 16 * 4096 });
      t.after(() => small.close().catch(() => undefined));
      assert.deepEqual(await small.open(), { queues: [{ name: 'q', count: 1 }], maxSeq: 1 });
      assert.deepEqual(seqs(await loadAll(small, 'q')), [1]);
      small.add(message(2, 'q', Buffer.alloc(256 * 1024, 2)));
      assert.match((await syncError(small))?.message ?? '', /full/, 'it does not grow');
    });

    test('if the writer thread dies, pending and later syncs get an error', async (t) => {
      const { store } = fresh(t);
      await store.open();
      store.add(message(1));
      await synced(store);
      store.add(message(2));
      const pending = syncError(store);
      // Kill the writer the way a crash would.
      await (store as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      const err = await pending;
      assert.ok(err instanceof Error);
      assert.match(err.message, /writer thread/);
      assert.ok((await syncError(store)) instanceof Error);
    });

    test('after close: writes throw, sync and load report the store closed', async (t) => {
      const { store } = fresh(t);
      await store.open();
      await store.close();
      assert.throws(() => store.add(message(1)), /not open/);
      assert.throws(() => store.remove(1), /not open/);
      assert.throws(() => store.setDeliveries(1, 1), /not open/);
      assert.match((await syncError(store))?.message ?? '', /not open/);
      await rejection(store.load('q', 0, 1));
      await store.close(); // twice is fine
    });

    test('loads sent to the writer before close are answered', async (t) => {
      const { store } = fresh(t, { reads: 'worker' });
      await store.open();
      store.add(message(1));
      store.add(message(2));
      await synced(store);
      const loads = [store.load('q', 0, 10), store.load('q', 1, 10)];
      await store.close();
      const [all, rest] = await Promise.all(loads);
      assert.deepEqual(seqs(all!), [1, 2]);
      assert.deepEqual(seqs(rest!), [2]);
    });

    test('a closed store can be opened again', async (t) => {
      const { store } = fresh(t);
      await store.open();
      store.add(message(1));
      await store.close();
      assert.deepEqual(await store.open(), { queues: [{ name: 'q', count: 1 }], maxSeq: 1 });
    });
  });
});

function seqs(ms: Array<{ seq: number }>): number[] {
  return ms.map((m) => m.seq);
}
