/**
 * Redelivery order after a restart of the real `coilmq` process, after a clean stop
 * (SIGTERM) and after a crash (SIGKILL): messages that were delivered but not acknowledged
 * come back first, in their original order, marked `redelivered:true` with
 * `x-delivery-count` (deliveries before this one, counted across restarts); then the
 * messages never delivered, in order, unmarked; acknowledged ones never.
 *
 * Under SIGKILL, delivery counts are only as durable as the commits that carry them: each
 * phase ends with writes whose RECEIPTs came after the deliveries (ACKs, SENDs), and a
 * RECEIPT means every write before it is on disk.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { RawClient } from '../helpers/raw-client.js';
import type { Frame } from '../../src/protocol/index.js';
import {
  ensureBuilt,
  killAll,
  startCoilmq,
  tempDir,
  type CoilmqProcess,
} from '../helpers/coilmq-process.js';

const Q = '/queue/order';
const U = '/queue/order-untouched';

const sockets: RawClient[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  killAll();
});

after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port, '1.2');
  sockets.push(c);
  return c;
}

/** n of a message (its `n` header). */
const num = (m: Frame): number => Number(m.header('n'));

/** [n, x-delivery-count] of each message; 0 for a first delivery (which must be unmarked). */
function counts(messages: Frame[]): Array<[number, number]> {
  return messages.map((m) => {
    const redelivered = m.header('redelivered');
    const count = m.header('x-delivery-count');
    if (redelivered === undefined) {
      assert.equal(count, undefined, `m${num(m)}: x-delivery-count without redelivered`);
      return [num(m), 0];
    }
    assert.equal(redelivered, 'true', `m${num(m)}`);
    assert.match(count ?? '', /^[1-9][0-9]*$/, `m${num(m)}: x-delivery-count`);
    return [num(m), Number(count)];
  });
}

/**
 * Reads frames until `messages` MESSAGEs and every RECEIPT in `receipts` have come (in
 * whatever interleaving); RECEIPTs must come in the order given, and nothing else may come.
 */
async function gather(c: RawClient, messages: number, receipts: string[] = []): Promise<Frame[]> {
  const got: Frame[] = [];
  const ids: string[] = [];
  while (got.length < messages || ids.length < receipts.length) {
    const f = await c.next(15_000);
    if (f.command === 'MESSAGE') got.push(f);
    else if (f.command === 'RECEIPT') ids.push(f.header('receipt-id')!);
    else assert.fail(`unexpected ${f.command} ${JSON.stringify(f.entries())}`);
  }
  assert.deepEqual(ids, receipts, 'RECEIPTs in frame order');
  assert.equal(got.length, messages, 'no more MESSAGEs than expected');
  return got;
}

const byN = (messages: Frame[], n: number): Frame => {
  const m = messages.find((x) => num(x) === n);
  assert.ok(m, `m${n} was delivered`);
  return m;
};

/** Stops the broker with the signal and checks how it went. */
async function stop(
  broker: CoilmqProcess,
  signal: 'SIGTERM' | 'SIGKILL',
  clients: RawClient[],
): Promise<void> {
  const exit = await broker.kill(signal);
  if (signal === 'SIGKILL') {
    assert.equal(exit.signal, 'SIGKILL');
  } else {
    assert.deepEqual(exit, { code: 0, signal: null }, broker.stdout() + broker.stderr());
    for (const c of clients) {
      assert.equal((await c.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
    }
  }
  for (const c of clients) await c.waitClosed();
}

/** Sends a marker to the end of `queue` and expects it to be the next MESSAGE of `c`. */
async function expectNothingBefore(port: number, c: RawClient, queue: string): Promise<void> {
  const p = await connect(port);
  p.write(`SEND\ndestination:${queue}\nn:-1\nreceipt:marker\n\nmarker\0`);
  assert.equal((await p.expect('RECEIPT')).header('receipt-id'), 'marker');
  const m = await c.expect('MESSAGE', 15_000);
  assert.equal(m.body.toString(), 'marker', `the next message of ${queue} is the marker`);
  p.destroy();
}

async function scenario(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const dir = tempDir('coilmq-order-');
  dirs.push(dir);

  // --- first run: 12 messages; two consumers take some, acknowledge a few -----------------
  let broker = await startCoilmq(dir);
  const p = await connect(broker.port);
  let frames = '';
  for (let i = 0; i < 12; i++) frames += `SEND\ndestination:${Q}\nn:${i}\nreceipt:s${i}\n\nm${i}\0`;
  p.write(frames);
  // Each RECEIPT, in order (gather checks): all twelve are on disk.
  await gather(
    p,
    0,
    [...Array(12).keys()].map((i) => `s${i}`),
  );

  // A takes m0..m3 and leaves: they go back to the head of the queue, delivered once.
  const a = await connect(broker.port);
  a.write(`SUBSCRIBE\nid:a\ndestination:${Q}\nack:client-individual\nprefetch-count:4\n\n\0`);
  const toA = await gather(a, 4);
  assert.deepEqual(counts(toA), [
    [0, 0],
    [1, 0],
    [2, 0],
    [3, 0],
  ]);
  a.write('DISCONNECT\nreceipt:bye\n\n\0');
  await gather(a, 0, ['bye']);
  await a.waitClosed();

  // B takes m0..m6 (m0..m3 redelivered), NACKs m6 (back to it at once), ACKs m1 and m5,
  // and so gets m7 and m8.
  const b = await connect(broker.port);
  b.write(`SUBSCRIBE\nid:b\ndestination:${Q}\nack:client-individual\nprefetch-count:7\n\n\0`);
  const toB = await gather(b, 7);
  assert.deepEqual(counts(toB), [
    [0, 1],
    [1, 1],
    [2, 1],
    [3, 1],
    [4, 0],
    [5, 0],
    [6, 0],
  ]);
  b.write(`NACK\nid:${byN(toB, 6).header('ack')}\nreceipt:n6\n\n\0`);
  const again = await gather(b, 1, ['n6']);
  assert.deepEqual(counts(again), [[6, 1]]);
  b.write(
    `ACK\nid:${byN(toB, 1).header('ack')}\nreceipt:a1\n\n\0` +
      `ACK\nid:${byN(toB, 5).header('ack')}\nreceipt:a5\n\n\0`,
  );
  assert.deepEqual(counts(await gather(b, 2, ['a1', 'a5'])), [
    [7, 0],
    [8, 0],
  ]);
  // Three messages on another queue, sent after every delivery above: their RECEIPTs mean
  // the delivery counts are on disk too.
  p.write(
    `SEND\ndestination:${U}\nn:100\nreceipt:u0\n\nu0\0` +
      `SEND\ndestination:${U}\nn:101\nreceipt:u1\n\nu1\0` +
      `SEND\ndestination:${U}\nn:102\nreceipt:u2\n\nu2\0`,
  );
  await gather(p, 0, ['u0', 'u1', 'u2']);
  await stop(broker, signal, [b, p]);

  // --- second run: delivered-unacked first, in order, counted; then the rest --------------
  broker = await startCoilmq(dir);
  const c = await connect(broker.port);
  c.write(`SUBSCRIBE\nid:c\ndestination:${Q}\nack:client-individual\n\n\0`);
  const toC = await gather(c, 10);
  assert.deepEqual(
    toC.map((m) => m.body.toString()),
    toC.map((m) => `m${num(m)}`),
    'bodies',
  );
  assert.deepEqual(counts(toC), [
    [0, 2],
    [2, 2],
    [3, 2],
    [4, 1],
    [6, 2],
    [7, 1],
    [8, 1],
    [9, 0],
    [10, 0],
    [11, 0],
  ]);
  assert.ok(toC.every((m) => m.header('destination') === Q && m.header('subscription') === 'c'));
  c.write(`SUBSCRIBE\nid:u\ndestination:${U}\nack:client-individual\n\n\0`);
  const toU = await gather(c, 3);
  assert.deepEqual(counts(toU), [
    [100, 0],
    [101, 0],
    [102, 0],
  ]);
  // Acknowledge m0, m2 and the three others; the RECEIPTs come once the removals are stored.
  c.write(
    [byN(toC, 0), byN(toC, 2), ...toU]
      .map((m) => `ACK\nid:${m.header('ack')}\nreceipt:ack${num(m)}\n\n\0`)
      .join(''),
  );
  await gather(c, 0, ['ack0', 'ack2', 'ack100', 'ack101', 'ack102']);
  await stop(broker, signal, [c]);

  // --- third run: counts go on across restarts; acknowledged ones stay gone ---------------
  broker = await startCoilmq(dir);
  const d = await connect(broker.port);
  d.write(`SUBSCRIBE\nid:d\ndestination:${Q}\nack:client-individual\n\n\0`);
  assert.deepEqual(counts(await gather(d, 8)), [
    [3, 3],
    [4, 2],
    [6, 3],
    [7, 2],
    [8, 2],
    [9, 1],
    [10, 1],
    [11, 1],
  ]);
  await expectNothingBefore(broker.port, d, Q);
  d.write(`SUBSCRIBE\nid:u\ndestination:${U}\n\n\0`);
  await expectNothingBefore(broker.port, d, U);
  await broker.kill('SIGKILL');
}

describe('restart: redelivery order', () => {
  before(ensureBuilt);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`after ${signal}: delivered-unacked first in order, marked and counted; then the rest`, () =>
      scenario(signal));
  }
});
