/**
 * Transactions: T-01 BEGIN needs `transaction`; T-02 SEND/ACK/NACK with `transaction`
 * take effect at COMMIT, in order; T-03 COMMIT/ABORT need an existing transaction; T-04
 * connection end aborts; T-05 duplicate BEGIN and unknown ids are errors; T-06 ABORT
 * drops SENDs and leaves ACKed messages unacknowledged (they can be ACKed again);
 * 1.P item 10 (transactional ACK then ABORT; NACK inside a transaction; DISCONNECT with
 * an open transaction).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertDeliveryCount,
  bodies,
  expectError,
  messages,
  receipt,
  send,
  seq,
  setup,
  subscribe,
  sync,
  type Env,
  type Frame,
  type StompVersion,
} from '../helpers/delivery.js';

async function fill(env: Env, dest: string, n: number): Promise<void> {
  const p = await env.connect('1.2');
  for (let i = 0; i < n; i++) send(p, dest, `m${i}`);
  await sync(p);
}

/** Everything a fresh consumer of `dest` gets (client-individual, generous prefetch). */
async function remaining(env: Env, dest: string, n: number): Promise<Frame[]> {
  const c = await env.connect('1.2');
  await subscribe(c, dest, { id: 'later', ack: 'client-individual' });
  const ms = await messages(c, n);
  assert.equal(await c.quiet(100), true, `exactly ${n} remain`);
  return ms;
}

describe('T-02 transactional SEND', () => {
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`T-02 [${v}] SENDs in a transaction are invisible until COMMIT, then arrive in order`, async (t) => {
      const env = await setup(t);
      const c = await env.connect('1.2');
      await subscribe(c, '/queue/tx', { id: 's' });
      const p = await env.connect(v);
      p.write('BEGIN\ntransaction:tx1\nreceipt:b\n\n\0');
      await p.expect('RECEIPT');
      for (let i = 0; i < 5; i++) {
        p.write(`SEND\ndestination:/queue/tx\ntransaction:tx1\nreceipt:s${i}\n\nt${i}\0`);
      }
      for (let i = 0; i < 5; i++) await p.expect('RECEIPT');
      // a SEND outside the transaction is delivered at once
      p.write('SEND\ndestination:/queue/tx\nreceipt:plain\n\nplain\0');
      await p.expect('RECEIPT');
      const first = await c.expect('MESSAGE');
      assert.equal(first.body.toString(), 'plain');
      assert.equal(await c.quiet(100), true, 'nothing from the open transaction');
      assert.equal(env.broker.queueDepth('/queue/tx'), 0);
      p.write('COMMIT\ntransaction:tx1\nreceipt:c\n\n\0');
      assert.equal((await p.expect('RECEIPT')).header('receipt-id'), 'c');
      const ms = await messages(c, 5);
      assert.deepEqual(bodies(ms), seq('t', 5));
      for (const m of ms) {
        assert.equal(m.header('transaction'), undefined, 'transaction is not passed through');
      }
    });
  }

  test('T-02 a transaction can span destinations: a topic and two queues, all at COMMIT', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ta', { id: 'a' });
    await subscribe(c, '/topic/tb', { id: 'b' });
    await subscribe(c, '/queue/tc', { id: 'c' });
    c.write(
      'BEGIN\ntransaction:x\n\n\0' +
        'SEND\ndestination:/queue/ta\ntransaction:x\n\n1\0' +
        'SEND\ndestination:/topic/tb\ntransaction:x\n\n2\0' +
        'SEND\ndestination:/queue/tc\ntransaction:x\n\n3\0',
    );
    await sync(c);
    assert.equal(await c.quiet(50), true);
    c.write('COMMIT\ntransaction:x\n\n\0');
    const ms = await messages(c, 3);
    assert.deepEqual(bodies(ms), ['1', '2', '3']);
    assert.deepEqual(
      ms.map((m) => m.header('subscription')),
      ['a', 'b', 'c'],
    );
  });

  test('T-06 ABORT drops the SENDs; the id can be used again', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ab', { id: 's' });
    c.write(
      'BEGIN\ntransaction:t\n\n\0' +
        'SEND\ndestination:/queue/ab\ntransaction:t\n\ndropped\0' +
        'ABORT\ntransaction:t\nreceipt:a\n\n\0',
    );
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(100), true);
    assert.equal(env.broker.queueDepth('/queue/ab'), 0);
    c.write(
      'BEGIN\ntransaction:t\n\n\0' +
        'SEND\ndestination:/queue/ab\ntransaction:t\n\nkept\0' +
        'COMMIT\ntransaction:t\n\n\0',
    );
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'kept');
    assert.equal(await c.quiet(50), true);
  });

  test('T-04 1.P#10 DISCONNECT with an open transaction aborts it', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/dx', { id: 's' });
    const p = await env.connect('1.2');
    p.write(
      'BEGIN\ntransaction:t\n\n\0' +
        'SEND\ndestination:/queue/dx\ntransaction:t\n\nlost\0' +
        'DISCONNECT\nreceipt:bye\n\n\0',
    );
    await p.expect('RECEIPT');
    await p.waitClosed();
    assert.equal(await c.quiet(150), true);
    assert.equal(env.broker.queueDepth('/queue/dx'), 0);
  });

  test('T-04 a connection lost with an open transaction aborts it', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/lx', { id: 's' });
    const p = await env.connect('1.2');
    p.write('BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/lx\ntransaction:t\n\nlost\0');
    await sync(p);
    p.destroy();
    await p.closed;
    assert.equal(await c.quiet(150), true);
  });

  test('T-01 transaction ids belong to their connection', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/own', { id: 's' });
    const p1 = await env.connect('1.2');
    const p2 = await env.connect('1.2');
    p1.write(
      'BEGIN\ntransaction:same\n\n\0SEND\ndestination:/queue/own\ntransaction:same\n\none\0',
    );
    p2.write('BEGIN\ntransaction:same\nreceipt:b2\n\n\0');
    await p2.expect('RECEIPT');
    p2.write(
      'SEND\ndestination:/queue/own\ntransaction:same\n\ntwo\0ABORT\ntransaction:same\n\n\0',
    );
    await sync(p2);
    await sync(p1);
    p1.write('COMMIT\ntransaction:same\n\n\0');
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'one');
    assert.equal(await c.quiet(100), true);
  });
});

describe('T-02 T-06 transactional ACK and NACK', () => {
  test('T-02 an ACK in a transaction takes effect at COMMIT', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ak', 3);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ak', { id: 's', ack: 'client' });
    const ms = await messages(c, 3);
    c.write(`BEGIN\ntransaction:t\n\n\0ACK\nid:${ms[1]!.header('ack')}\ntransaction:t\n\n\0`);
    c.write('COMMIT\ntransaction:t\nreceipt:c\n\n\0');
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    // cumulative client ACK of m1 at COMMIT: m0 and m1 gone, m2 back
    const rest = await remaining(env, '/queue/ak', 1);
    assert.deepEqual(bodies(rest), ['m2']);
    assertDeliveryCount(rest[0]!, 1);
  });

  test('T-04 1.P#10 an ACK in a transaction that never commits does not count', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ak2', 2);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ak2', { id: 's', ack: 'client-individual' });
    const ms = await messages(c, 2);
    c.write(`BEGIN\ntransaction:t\n\n\0ACK\nid:${ms[0]!.header('ack')}\ntransaction:t\n\n\0`);
    await sync(c);
    c.destroy();
    await c.closed;
    assert.deepEqual(bodies(await remaining(env, '/queue/ak2', 2)), ['m0', 'm1']);
  });

  test('T-06 1.P#10 ACK in a transaction, ABORT: the message is unacked again and redelivered after disconnect', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ab1', 2);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ab1', { id: 's', ack: 'client-individual' });
    const ms = await messages(c, 2);
    c.write(
      `BEGIN\ntransaction:t\n\n\0ACK\nid:${ms[0]!.header('ack')}\ntransaction:t\n\n\0` +
        'ABORT\ntransaction:t\nreceipt:a\n\n\0',
    );
    await c.expect('RECEIPT');
    c.write(`ACK\nid:${ms[1]!.header('ack')}\nreceipt:a1\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    const rest = await remaining(env, '/queue/ab1', 1);
    assert.deepEqual(bodies(rest), ['m0']);
    assertDeliveryCount(rest[0]!, 1);
  });

  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`T-06 [${v}] ACK in a transaction, ABORT, ACK again (outside): acked for good`, async (t) => {
      const env = await setup(t);
      await fill(env, '/queue/ab2', 1);
      const c = await env.connect(v);
      await subscribe(c, '/queue/ab2', { id: 's', ack: 'client' });
      const m = await c.expect('MESSAGE');
      const ack =
        v === '1.2'
          ? `id:${m.header('ack')}`
          : `message-id:${m.header('message-id')}\nsubscription:s`;
      c.write(
        `BEGIN\ntransaction:t\n\n\0ACK\n${ack}\ntransaction:t\n\n\0ABORT\ntransaction:t\n\n\0`,
      );
      c.write(`ACK\n${ack}\nreceipt:again\n\n\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'again');
      c.destroy();
      await c.closed;
      await remaining(env, '/queue/ab2', 0);
    });
  }

  test('T-06 ACK in a transaction, ABORT, ACK in a new transaction, COMMIT: acked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ab3', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ab3', { id: 's', ack: 'client-individual' });
    const m = await c.expect('MESSAGE');
    const id = m.header('ack');
    c.write(
      `BEGIN\ntransaction:t1\n\n\0ACK\nid:${id}\ntransaction:t1\n\n\0ABORT\ntransaction:t1\n\n\0` +
        `BEGIN\ntransaction:t2\n\n\0ACK\nid:${id}\ntransaction:t2\n\n\0COMMIT\ntransaction:t2\nreceipt:c\n\n\0`,
    );
    await c.expect('RECEIPT');
    // acked: acking once more is an error
    c.write(`ACK\nid:${id}\nreceipt:x\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'x' });
    await remaining(env, '/queue/ab3', 0);
  });

  test('1.P#10 NACK in a transaction: nothing happens until COMMIT, then the message is redelivered', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/nk', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/nk', { id: 's', ack: 'client-individual' });
    const m = await c.expect('MESSAGE');
    c.write(
      `BEGIN\ntransaction:t\n\n\0NACK\nid:${m.header('ack')}\ntransaction:t\nreceipt:n\n\n\0`,
    );
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(100), true, 'not requeued before COMMIT');
    c.write('COMMIT\ntransaction:t\n\n\0');
    const again = await c.expect('MESSAGE');
    assert.equal(again.body.toString(), 'm0');
    assertDeliveryCount(again, 1);
  });

  test('1.P#10 T-06 NACK in a transaction, ABORT: still unacked, can be ACKed', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/nk2', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/nk2', { id: 's', ack: 'client' });
    const m = await c.expect('MESSAGE');
    const ids = `message-id:${m.header('message-id')}\nsubscription:s`;
    c.write(
      `BEGIN\ntransaction:t\n\n\0NACK\n${ids}\ntransaction:t\n\n\0ABORT\ntransaction:t\n\n\0`,
    );
    await sync(c);
    assert.equal(await c.quiet(50), true, 'not requeued');
    c.write(`ACK\n${ids}\nreceipt:a\n\n\0`);
    await receipt(c, 'a');
    c.destroy();
    await c.closed;
    await remaining(env, '/queue/nk2', 0);
  });

  test('T-02 SEND and ACK in one transaction: both at COMMIT (consume-transform-produce)', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/in', 1);
    const out = await env.connect('1.2');
    await subscribe(out, '/queue/out', { id: 'o' });
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/in', { id: 'i', ack: 'client-individual' });
    const m = await c.expect('MESSAGE');
    c.write(
      `BEGIN\ntransaction:t\n\n\0ACK\nid:${m.header('ack')}\ntransaction:t\n\n\0` +
        'SEND\ndestination:/queue/out\ntransaction:t\n\ntransformed\0',
    );
    await sync(c);
    assert.equal(await out.quiet(50), true);
    c.write('COMMIT\ntransaction:t\n\n\0');
    assert.equal((await out.expect('MESSAGE')).body.toString(), 'transformed');
    await sync(c);
    c.destroy();
    await c.closed;
    await remaining(env, '/queue/in', 0);
  });
});

describe('T-01 T-03 T-05 transaction errors', () => {
  const cases: Array<[string, string, string, string]> = [
    ['T-01 BEGIN without transaction', 'BEGIN\nreceipt:r\n\n\0', 'MISSING_HEADER', 'BEGIN'],
    ['T-03 COMMIT without transaction', 'COMMIT\nreceipt:r\n\n\0', 'MISSING_HEADER', 'COMMIT'],
    ['T-03 ABORT without transaction', 'ABORT\nreceipt:r\n\n\0', 'MISSING_HEADER', 'ABORT'],
    [
      'T-05 duplicate BEGIN',
      'BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\nreceipt:r\n\n\0',
      'DUPLICATE_TRANSACTION',
      'BEGIN',
    ],
    [
      'T-05 COMMIT of an unknown transaction',
      'COMMIT\ntransaction:nope\nreceipt:r\n\n\0',
      'UNKNOWN_TRANSACTION',
      'COMMIT',
    ],
    [
      'T-05 ABORT of an unknown transaction',
      'ABORT\ntransaction:nope\nreceipt:r\n\n\0',
      'UNKNOWN_TRANSACTION',
      'ABORT',
    ],
    [
      'T-05 COMMIT twice',
      'BEGIN\ntransaction:t\n\n\0COMMIT\ntransaction:t\n\n\0COMMIT\ntransaction:t\nreceipt:r\n\n\0',
      'UNKNOWN_TRANSACTION',
      'COMMIT',
    ],
    [
      'T-05 COMMIT after ABORT',
      'BEGIN\ntransaction:t\n\n\0ABORT\ntransaction:t\n\n\0COMMIT\ntransaction:t\nreceipt:r\n\n\0',
      'UNKNOWN_TRANSACTION',
      'COMMIT',
    ],
    [
      'T-05 SEND with an unknown transaction',
      'SEND\ndestination:/queue/tx-err\ntransaction:nope\nreceipt:r\n\nx\0',
      'UNKNOWN_TRANSACTION',
      'SEND',
    ],
  ];
  for (const [name, bytes, code, command] of cases) {
    test(`${name} -> ERROR ${code} with receipt-id`, async (t) => {
      const env = await setup(t);
      const c = await env.connect('1.2');
      c.write(bytes);
      await expectError(c, code, { receiptId: 'r', command });
      assert.equal(env.broker.queueDepth('/queue/tx-err'), 0);
    });
  }

  test('T-05 ACK with an unknown transaction -> ERROR UNKNOWN_TRANSACTION; the message stays unacked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ackerr', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ackerr', { id: 's', ack: 'client' });
    const m = await c.expect('MESSAGE');
    c.write(`ACK\nid:${m.header('ack')}\ntransaction:nope\nreceipt:r\n\n\0`);
    await expectError(c, 'UNKNOWN_TRANSACTION', { receiptId: 'r', command: 'ACK' });
    assert.deepEqual(bodies(await remaining(env, '/queue/ackerr', 1)), ['m0']);
  });

  test('T-05 SEND in an unknown transaction is not delivered, nor are later frames processed', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/u', { id: 's' });
    const p = await env.connect('1.2');
    p.write(
      'SEND\ndestination:/queue/u\ntransaction:nope\n\nbad\0SEND\ndestination:/queue/u\n\nafter\0',
    );
    await expectError(p, 'UNKNOWN_TRANSACTION');
    assert.equal(await c.quiet(100), true);
  });
});
