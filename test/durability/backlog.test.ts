/**
 * A large backlog, sized for CI (the million-message figure is the benchmark's): 50,000
 * persistent messages of 1 KiB into a broker (in-process, with the SQLite store) that may
 * hold only 1,000 messages of a queue in memory. The producer is never paused (every
 * batch's RECEIPT comes while nobody consumes), memory stays within the limit while the
 * queue's depth is the whole backlog, a restart keeps all of it, and a consumer drains it
 * in order with byte-identical bodies, memory still bounded.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startBroker, type Broker } from '../../src/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { RawClient } from '../helpers/raw-client.js';
import { tempDir, within } from '../helpers/coilmq-process.js';

const N = 50_000;
const SIZE = 1024;
const LIMIT = 1000;
/** A RECEIPT is asked for on every BATCH-th message. */
const BATCH = 1000;
/** Batches written ahead of the last RECEIPT received. */
const AHEAD = 4;
const Q = '/queue/backlog';
/** The drain's consumer: its prefetch, and how often it acknowledges (cumulatively). */
const PREFETCH = 500;
const ACK_EVERY = 250;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The body of message i: 1 KiB, its number first, then bytes of every value (NULs too). */
function body(i: number): Buffer {
  const b = Buffer.alloc(SIZE);
  b.write(`${i}:`, 0, 'latin1');
  for (let j = 12; j < SIZE; j++) b[j] = (i * 31 + j * 7) & 0xff;
  return b;
}

function sendFrame(i: number): Buffer {
  const receipt = i % BATCH === BATCH - 1 ? `receipt:r${i}\n` : '';
  return Buffer.concat([
    Buffer.from(`SEND\ndestination:${Q}\nn:${i}\n${receipt}content-length:${SIZE}\n\n`),
    body(i),
    Buffer.from([0]),
  ]);
}

/** Samples the broker's memory use while `fn` runs; returns the highest count seen. */
async function watchMemory(broker: Broker, fn: () => Promise<void>): Promise<number> {
  let max = 0;
  const sample = (): void => {
    max = Math.max(max, broker.stats().messagesInMemory);
  };
  const timer = setInterval(sample, 2);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  sample();
  return max;
}

function open(file: string): Promise<Broker> {
  return startBroker({
    port: 0,
    store: new SqliteStore({ path: file }),
    maxQueueMessagesInMemory: LIMIT,
    closeLinger: 200,
  });
}

describe('bounded memory: a backlog larger than memory, on disk', () => {
  test(`${N} messages of 1 KiB: accepted, bounded in memory, kept over a restart, drained in order`, async (t) => {
    const dir = tempDir('coilmq-backlog-');
    dirs.push(dir);
    const file = path.join(dir, 'coilmq.db');
    let broker = await open(file);
    const clients: RawClient[] = [];
    t.after(async () => {
      for (const c of clients) c.destroy();
      await broker.close().catch(() => undefined);
    });

    // --- fill: nobody consumes; every batch's RECEIPT must still come --------------------
    const producer = await RawClient.connect(broker.address().port, '1.2');
    clients.push(producer);
    let t0 = Date.now();
    const filledMax = await watchMemory(broker, async () => {
      let receipts = 0;
      for (let sent = 0; sent < N;) {
        // Write up to AHEAD batches beyond the RECEIPTs received, minding the socket.
        while (sent < N && sent < (receipts + AHEAD) * BATCH) {
          const chunk: Buffer[] = [];
          for (let k = 0; k < BATCH; k++) chunk.push(sendFrame(sent++));
          if (!producer.socket.write(Buffer.concat(chunk))) {
            await within(
              new Promise((r) => producer.socket.once('drain', r)),
              20_000,
              `the broker to read the producer's batch ending at ${sent - 1} (paused?)`,
            );
          }
        }
        const r = await producer.expect('RECEIPT', 20_000);
        assert.equal(r.header('receipt-id'), `r${(receipts + 1) * BATCH - 1}`);
        receipts++;
      }
      while (receipts < N / BATCH) {
        const r = await producer.expect('RECEIPT', 20_000);
        assert.equal(r.header('receipt-id'), `r${(receipts + 1) * BATCH - 1}`);
        receipts++;
      }
    });
    t.diagnostic(`filled in ${Date.now() - t0} ms; at most ${filledMax} messages in memory`);
    assert.equal(broker.queueDepth(Q), N);
    assert.equal(broker.stats().messagesQueued, N);
    assert.ok(filledMax <= LIMIT, `at most ${LIMIT} in memory while filling, saw ${filledMax}`);
    assert.ok(broker.stats().messagesInMemory <= LIMIT);
    producer.destroy();

    // --- restart: a new broker on the same file has all of it, none of it in memory ------
    await broker.close();
    broker = await open(file);
    assert.equal(broker.queueDepth(Q), N, 'the whole backlog is back after the restart');
    assert.ok(broker.stats().messagesInMemory <= LIMIT);

    // --- drain: in order, byte-identical, memory still bounded ---------------------------
    // Client acks with a prefetch, acknowledged (cumulatively) every ACK_EVERY messages: the
    // queue pages messages in while the consumer holds some, so paging shows in memory use.
    const consumer = await RawClient.connect(broker.address().port, '1.2');
    clients.push(consumer);
    t0 = Date.now();
    const drainedMax = await watchMemory(broker, async () => {
      consumer.write(
        `SUBSCRIBE\nid:0\ndestination:${Q}\nack:client\nprefetch-count:${PREFETCH}\n\n\0`,
      );
      for (let i = 0; i < N; i++) {
        const m = await consumer.expect('MESSAGE', 20_000);
        if (m.header('n') !== String(i)) assert.fail(`message ${i}: got n:${m.header('n')}`);
        if (!m.body.equals(body(i))) assert.fail(`message ${i}: the body differs`);
        if (m.header('redelivered') !== undefined) assert.fail(`message ${i}: redelivered`);
        if (i % ACK_EVERY === ACK_EVERY - 1 || i === N - 1) {
          consumer.write(`ACK\nid:${m.header('ack')}\n${i === N - 1 ? 'receipt:done\n' : ''}\n\0`);
        }
      }
      // The last ACK's RECEIPT: every removal is on disk.
      assert.equal((await consumer.expect('RECEIPT', 20_000)).header('receipt-id'), 'done');
      assert.equal(await consumer.quiet(200), true, 'nothing after the last message');
    });
    t.diagnostic(`drained in ${Date.now() - t0} ms; at most ${drainedMax} messages in memory`);
    assert.ok(drainedMax <= LIMIT, `at most ${LIMIT} in memory while draining, saw ${drainedMax}`);
    assert.ok(drainedMax > 0, 'the queue paged messages in while the consumer held some');
    assert.equal(broker.queueDepth(Q), 0);
    assert.equal(broker.stats().messagesQueued, 0);
    consumer.destroy();

    // Acknowledged means removed: after a clean close the store is empty.
    await broker.close();
    const store = new SqliteStore({ path: file });
    const contents = await store.open();
    await store.close();
    assert.deepEqual(contents.queues, []);
    assert.ok(contents.maxSeq >= N);
  });
});
