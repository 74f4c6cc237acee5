/**
 * Store failures (issue 4, "Failures"):
 *
 * - the real `coilmq` refuses to start on a database it cannot use (garbage, a corrupt
 *   page) and on a data directory that is a regular file: it exits non-zero, naming the
 *   file and the reason, and never listens;
 * - with the library and SqliteStore's `maxDatabaseBytes` (a "full disk"): a
 *   persistent SEND that cannot be committed gets ERROR STORE_FAILED with its receipt-id and
 *   the connection closes, with a log line saying why; what was receipted before stays and
 *   comes back after a restart; other connections carry on.
 */
import { afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startBroker, type Broker } from '../../src/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { RawClient } from '../helpers/raw-client.js';
import {
  ensureBuilt,
  freePort,
  processTestScope,
  spawnCoilmq,
  within,
  type CoilmqProcess,
} from '../helpers/coilmq-process.js';

const { dataDir, track, closeSockets } = processTestScope('coilmq-fail-');

async function connect(port: number): Promise<RawClient> {
  return track(await RawClient.connect(port, '1.2'));
}

/** Nothing accepts connections on the port. */
async function notListening(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      reject(new Error(`something listens on ${port}`));
    });
    s.once('error', () => resolve());
  });
}

/** Runs the binary on `dir` and expects it to refuse to start; returns its output. */
async function refused(dir: string): Promise<{ p: CoilmqProcess; port: number; all: string }> {
  const port = await freePort();
  const p = spawnCoilmq(
    ['-b', '127.0.0.1', '-p', String(port), '--ws-port', '0', '--data-dir', dir],
    port,
  );
  const exit = await within(p.exited, 15_000, 'coilmq to exit');
  const all = p.stdout() + p.stderr();
  assert.equal(exit.signal, null, all);
  assert.notEqual(exit.code, 0, `exit code ${exit.code}: ${all}`);
  assert.ok(
    !p.logs.some((l) => l.msg === 'coilmq started' || l.msg === 'listening'),
    `it did not start: ${all}`,
  );
  await notListening(port);
  return { p, port, all };
}

/** A store at `file` with `count` messages in /queue/q, written by SqliteStore itself. */
async function makeStore(file: string, count: number): Promise<void> {
  const store = new SqliteStore({ path: file });
  await store.open();
  for (let seq = 1; seq <= count; seq++) {
    store.add({
      seq,
      id: `m-${seq}`,
      queue: '/queue/q',
      headers: ['destination', '/queue/q', 'n', String(seq)],
      body: Buffer.alloc(2000, seq),
      deliveries: 0,
    });
  }
  await new Promise<void>((resolve, reject) => store.sync((e) => (e ? reject(e) : resolve())));
  await store.close();
}

/** Overwrites pages of `file` (1-based page numbers, as SQLite counts them). */
function overwritePages(file: string, pages: number[]): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const pageSize = 4096;
    const junk = Buffer.alloc(pageSize, 0xa5);
    for (const p of pages) fs.writeSync(fd, junk, 0, pageSize, (p - 1) * pageSize);
  } finally {
    fs.closeSync(fd);
  }
}

/** Pages of `file` by SQLite object and page type (the dbstat table). */
function pagesOf(file: string, name: string, pagetype: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('page_size', { simple: true }), 4096);
    return (
      db
        .prepare('SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno')
        .all(name, pagetype) as Array<{ pageno: number }>
    ).map((r) => r.pageno);
  } finally {
    db.close();
  }
}

describe('the binary refuses a store it cannot use', () => {
  before(ensureBuilt);

  test('garbage in DATA/coilmq.db: exits non-zero, naming the file and the reason; the file is left alone', async () => {
    const dir = dataDir();
    const file = path.join(dir, 'coilmq.db');
    const garbage = Buffer.alloc(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    fs.writeFileSync(file, garbage);
    const { p } = await refused(dir);
    assert.ok(p.stderr().includes(file), `stderr names ${file}: ${p.stderr()}`);
    assert.match(p.stderr(), /not a database/);
    assert.match(p.stderr(), /cannot start/);
    const fatal = p.logs.find((l) => l.level >= 50);
    assert.ok(fatal, `a log line at error level or above: ${p.stdout()}`);
    assert.ok(fatal.msg.includes(file), fatal.msg);
    assert.match(fatal.msg, /not a database/);
    assert.ok(fs.readFileSync(file).equals(garbage), 'the file is unchanged');
  });

  test('a coilmq store with a corrupt page that opening reads: exits non-zero, "malformed"', async () => {
    const dir = dataDir();
    const file = path.join(dir, 'coilmq.db');
    await makeStore(file, 50);
    // The interior page of the messages table: counting the queues at start reads it.
    const interior = pagesOf(file, 'messages', 'internal');
    assert.ok(interior.length > 0);
    overwritePages(file, interior);
    const { p } = await refused(dir);
    assert.ok(p.stderr().includes(file), p.stderr());
    assert.match(p.stderr(), /malformed|corrupt/i);
  });

  test('a data directory that is a regular file: exits non-zero, naming it', async () => {
    const dir = dataDir();
    const notDir = path.join(dir, 'not-a-dir');
    fs.writeFileSync(notDir, 'just a file\n');
    const { p } = await refused(notDir);
    assert.ok(p.stderr().includes(notDir), `names ${notDir}: ${p.stderr()}`);
    assert.match(p.stderr(), /cannot start: cannot open the store/);
    assert.match(p.stderr(), /cannot create its directory/);
    assert.match(p.stderr(), /EEXIST|ENOTDIR|not a directory|exists/);
    assert.equal(fs.readFileSync(notDir, 'utf8'), 'just a file\n', 'the file is left alone');
  });

  test('a store whose message pages are corrupt: it refuses to start, or says so when it reads them', async (t) => {
    const dir = dataDir();
    const file = path.join(dir, 'coilmq.db');
    await makeStore(file, 50);
    // One leaf page of the messages table, in the middle (a message's row). Opening
    // counts the messages through the index and reads only the last leaf (max(seq)).
    const leaves = pagesOf(file, 'messages', 'leaf');
    assert.ok(leaves.length >= 3);
    overwritePages(file, [leaves[Math.floor(leaves.length / 2)]!]);

    const port = await freePort();
    const p = spawnCoilmq(
      ['-b', '127.0.0.1', '-p', String(port), '--ws-port', '0', '--data-dir', dir],
      port,
    );
    const first = await Promise.race([
      p.exited.then(() => 'exited' as const),
      p.waitForLog('coilmq started').then(
        () => 'started' as const,
        () => 'exited' as const,
      ),
    ]);
    if (first === 'exited') {
      const exit = await p.exited;
      t.diagnostic(`refused to start: ${exit.code}: ${p.stderr()}`);
      assert.notEqual(exit.code, 0);
      assert.ok(p.stderr().includes(file), p.stderr());
      return;
    }
    // It started: a consumer asks for the messages; the broker must say what is wrong.
    const c = await connect(port);
    c.write('SUBSCRIBE\nid:0\ndestination:/queue/q\nreceipt:s\n\n\0');
    await c.expect('RECEIPT');
    const deadline = Date.now() + 5000;
    let said = false;
    let delivered = 0;
    while (!said && Date.now() < deadline) {
      said = p.logs.some((l) => l.level >= 50 && JSON.stringify(l).includes(file));
      while (c.frames.length > 0) {
        const f = c.frames.shift()!;
        if (f.command === 'MESSAGE') delivered++;
        if (f.command === 'ERROR') said = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    t.diagnostic(`started; ${delivered} messages delivered; said so: ${said}`);
    t.diagnostic(p.stdout());
    assert.ok(
      said,
      `no ERROR and no error log line naming ${file} in 5 s (${delivered} of 50 messages ` +
        `delivered): ${p.stdout()}`,
    );
  });
});

interface Entry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function captureLogger(): {
  entries: Entry[];
  logger: Record<Entry['level'], (o: object, m?: string) => void>;
} {
  const entries: Entry[] = [];
  const at =
    (level: Entry['level']) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return {
    entries,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

/** A body of n bytes that is not all one value. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed * 101) & 0xff;
  return b;
}

function send(destination: string, headers: string, body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`SEND\ndestination:${destination}\n${headers}content-length:${body.length}\n\n`),
    body,
    Buffer.from([0]),
  ]);
}

/** 64 pages of 4 KiB: room for small messages, not for one of 1 MiB. */
const MAX_PAGES = 64;
const BIG = 1024 * 1024;

describe('a full disk (SqliteStore maxDatabaseBytes)', () => {
  const brokers: Broker[] = [];
  afterEach(async () => {
    closeSockets();
    for (const b of brokers.splice(0)) await b.close().catch(() => undefined);
  });

  async function fullBroker(file: string, logger?: object): Promise<Broker> {
    const b = await startBroker({
      port: 0,
      closeLinger: 200,
      store: new SqliteStore({ path: file, maxDatabaseBytes: MAX_PAGES * 4096 }),
      ...(logger !== undefined ? { logger: logger as never } : {}),
    });
    brokers.push(b);
    return b;
  }

  test('a SEND that cannot be stored: ERROR STORE_FAILED with receipt-id, close, a log line; receipted messages survive; others carry on', async () => {
    const file = path.join(dataDir(), 'coilmq.db');
    const { entries, logger } = captureLogger();
    const broker = await fullBroker(file, logger);
    const port = broker.address().port;

    // Ten small messages, each receipted (so on disk).
    const p1 = await connect(port);
    for (let i = 0; i < 10; i++) {
      p1.write(send('/queue/full', `n:${i}\nreceipt:s${i}\n`, bytes(100, i)));
    }
    for (let i = 0; i < 10; i++) {
      assert.equal((await p1.expect('RECEIPT')).header('receipt-id'), `s${i}`);
    }
    // Another connection, subscribed to a topic.
    const other = await connect(port);
    other.write('SUBSCRIBE\nid:t\ndestination:/topic/news\nreceipt:sub\n\n\0');
    assert.equal((await other.expect('RECEIPT')).header('receipt-id'), 'sub');

    // A message too big for what is left of the "disk".
    const p2 = await connect(port);
    p2.write(send('/queue/full', 'n:big\nreceipt:big\n', bytes(BIG, 99)));
    const e = await p2.expect('ERROR', 15_000);
    assert.equal(e.header('code'), 'STORE_FAILED');
    assert.equal(e.header('receipt-id'), 'big');
    assert.equal(e.header('command'), 'SEND');
    assert.match(e.header('message') ?? '', /full/);
    await p2.waitClosed();
    assert.equal(broker.stats().errors.STORE_FAILED, 1);

    // The log says what failed, naming the file and the reason.
    const said = (x: Entry): string =>
      `${x.msg ?? ''} ${x.obj.err instanceof Error ? x.obj.err.message : ''} ${JSON.stringify(x.obj)}`;
    const logged = entries.find((x) => x.level === 'error' && said(x).includes(file));
    assert.ok(logged, `an error log line naming ${file}: ${JSON.stringify(entries)}`);
    assert.match(said(logged), /SQLITE_FULL|full/);

    // Other connections carry on: topic traffic, transient queue traffic, receipts.
    other.write(send('/topic/news', 'receipt:t1\n', Buffer.from('still here')));
    const got = [await other.next(), await other.next()];
    assert.deepEqual(got.map((f) => f.command).sort(), ['MESSAGE', 'RECEIPT']);
    assert.equal(got.find((f) => f.command === 'MESSAGE')!.body.toString(), 'still here');
    other.write(send('/queue/transient', 'persistent:false\nreceipt:t2\n', Buffer.from('x')));
    assert.equal((await other.expect('RECEIPT')).header('receipt-id'), 't2');
    p1.write('SUBSCRIBE\nid:x\ndestination:/topic/other\nreceipt:p1\n\n\0');
    assert.equal((await p1.expect('RECEIPT')).header('receipt-id'), 'p1');
    assert.equal(other.ended || p1.ended, false, 'the other connections are open');
    // The failed connection is gone (once the broker has seen its close); the others remain.
    for (let i = 0; i < 100 && broker.stats().connections > 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(broker.stats().connections, 2);

    // Restart (on a store without the limit): the ten receipted messages, in order, intact.
    closeSockets();
    await broker.close().catch(() => undefined);
    brokers.length = 0;
    const again = await startBroker({
      port: 0,
      closeLinger: 200,
      store: new SqliteStore({ path: file }),
    });
    brokers.push(again);
    const c = await connect(again.address().port);
    c.write('SUBSCRIBE\nid:0\ndestination:/queue/full\n\n\0');
    for (let i = 0; i < 10; i++) {
      const m = await c.expect('MESSAGE');
      assert.equal(m.header('n'), String(i));
      assert.ok(m.body.equals(bytes(100, i)), `body of message ${i}`);
    }
    // Then nothing else (not the big message): a marker sent now is the next message.
    const p3 = await connect(again.address().port);
    p3.write(send('/queue/full', 'n:marker\nreceipt:m\n', Buffer.from('m')));
    await p3.expect('RECEIPT');
    assert.equal((await c.expect('MESSAGE')).header('n'), 'marker');
  });

  test("after one SEND too big for the disk, other connections' persistent SENDs and ACKs that fit still get their RECEIPTs", async () => {
    const file = path.join(dataDir(), 'coilmq.db');
    const broker = await fullBroker(file);
    const port = broker.address().port;
    const p1 = await connect(port);
    for (let i = 0; i < 5; i++)
      p1.write(send('/queue/full', `n:${i}\nreceipt:s${i}\n`, bytes(100, i)));
    for (let i = 0; i < 5; i++) await p1.expect('RECEIPT');
    const consumer = await connect(port);
    consumer.write('SUBSCRIBE\nid:0\ndestination:/queue/full\nack:client-individual\n\n\0');
    const delivered = [];
    for (let i = 0; i < 5; i++) delivered.push(await consumer.expect('MESSAGE'));

    const p2 = await connect(port);
    p2.write(send('/queue/big', 'receipt:big\n', bytes(BIG, 1)));
    assert.equal((await p2.expect('ERROR', 15_000)).header('code'), 'STORE_FAILED');

    // A small persistent message from another connection: there is room for it.
    p1.write(send('/queue/full', 'n:5\nreceipt:s5\n', bytes(100, 5)));
    const f = await p1.next(15_000);
    assert.equal(f.command, 'RECEIPT', `${f.command} ${f.header('message')}`);
    // An ACK (a removal) from a consumer on yet another connection.
    consumer.write(`ACK\nid:${delivered[0]!.header('ack')}\nreceipt:a0\n\n\0`);
    const g = await consumer.next(15_000);
    const h = g.command === 'MESSAGE' ? await consumer.next(15_000) : g;
    assert.equal(h.command, 'RECEIPT', `${h.command} ${h.header('message')}`);
    await broker.close();
    brokers.length = 0;
  });

  test('a message whose SEND got ERROR STORE_FAILED is not on disk: after a restart it is gone (at-least-once: it may have been delivered before)', async () => {
    const file = path.join(dataDir(), 'coilmq.db');
    const broker = await fullBroker(file);
    const port = broker.address().port;
    const p1 = await connect(port);
    p1.write(send('/queue/full', 'n:0\nreceipt:s0\n', bytes(100, 0)));
    await p1.expect('RECEIPT');
    const p2 = await connect(port);
    p2.write(send('/queue/full', 'n:big\nreceipt:big\n', bytes(BIG, 1)));
    assert.equal((await p2.expect('ERROR', 15_000)).header('code'), 'STORE_FAILED');
    await broker.close();
    brokers.length = 0;
    const again = await fullBroker(file);
    const c = await connect(again.address().port);
    c.write('SUBSCRIBE\nid:0\ndestination:/queue/full\n\n\0');
    assert.equal((await c.expect('MESSAGE')).header('n'), '0');
    assert.equal(await c.quiet(300), true, 'the failed SEND did not reach the disk');
  });
});
