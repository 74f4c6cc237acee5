/**
 * Ack modes SB-03..SB-06 with 1,000 messages through each, and the ACK frame per version:
 * A-01 [1.0] message-id, A-02 [1.1] message-id + subscription, A-03 [1.2] id (= MESSAGE
 * ack). A-06: an unknown id -> ERROR UNKNOWN_MESSAGE with receipt-id, then close.
 * Acknowledged-ness is checked from outside: after the consumer goes, exactly the
 * unacknowledged messages are redelivered to a new consumer (SB-07).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
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
  type StompVersion,
} from '../helpers/delivery.js';

const N = 1000;

async function fill(env: Env, dest: string, n: number, prefix = 'm'): Promise<void> {
  const p = await env.connect('1.2');
  for (let i = 0; i < n; i++) send(p, dest, `${prefix}${i}`);
  await sync(p);
}

/** A new consumer on `dest` gets exactly `expected` (as redeliveries if `redelivered`). */
async function expectRemaining(env: Env, dest: string, expected: string[], count = 1) {
  const c = await env.connect('1.2');
  await subscribe(c, dest, { id: 'after', ack: 'client-individual' });
  const ms = await messages(c, expected.length);
  assert.deepEqual(bodies(ms), expected);
  for (const m of ms) assertDeliveryCount(m, count);
  assert.equal(await c.quiet(100), true, 'nothing else remains');
  assert.equal(env.broker.queueDepth(dest), 0);
}

describe('SB-03 SB-04 auto', () => {
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`SB-03 SB-04 [${v}] no ack header means auto: 1,000 messages, consumed when sent`, async (t) => {
      const env = await setup(t);
      await fill(env, '/queue/auto', N);
      const c = await env.connect(v);
      c.write('SUBSCRIBE\nid:s\ndestination:/queue/auto\n\n\0');
      const ms = await messages(c, N);
      assert.deepEqual(bodies(ms), seq('m', N));
      for (const m of ms) assert.equal(m.header('ack'), undefined);
      c.destroy();
      await c.closed;
      await expectRemaining(env, '/queue/auto', []);
    });
  }

  test('SB-03 ack:auto spelled out behaves the same', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/auto2\nack:auto\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    await fill(env, '/queue/auto2', 10);
    assert.deepEqual(bodies(await messages(c, 10)), seq('m', 10));
    c.write('DISCONNECT\nreceipt:bye\n\n\0');
    await c.expect('RECEIPT');
    await c.waitClosed();
    await expectRemaining(env, '/queue/auto2', []);
  });

  test('SB-03 an unknown ack mode -> ERROR INVALID_HEADER', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/x\nack:sometimes\nreceipt:r\n\n\0');
    await expectError(c, 'INVALID_HEADER', { receiptId: 'r', command: 'SUBSCRIBE' });
  });
});

describe('SB-05 client (cumulative)', () => {
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`SB-05 A-0x [${v}] 1,000 messages acked cumulatively every 50th; nothing left after`, async (t) => {
      const env = await setup(t);
      await fill(env, '/queue/client', N);
      const c = await env.connect(v);
      c.write('SUBSCRIBE\nid:s\ndestination:/queue/client\nack:client\n\n\0');
      const got: string[] = [];
      for (let i = 0; i < N; i++) {
        const m = await c.expect('MESSAGE');
        assert.ok(m.header('ack'), 'client MESSAGE has ack');
        got.push(m.body.toString());
        if (i % 50 === 49) c.write(ackFrame(v, m));
      }
      assert.deepEqual(got, seq('m', N));
      await sync(c);
      c.destroy();
      await c.closed;
      await expectRemaining(env, '/queue/client', []);
    });
  }

  test('SB-05 acking the 3rd of 5 acks 1..3; 4 and 5 are redelivered', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/cum', 5);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/cum', { id: 's', ack: 'client' });
    const ms = await messages(c, 5);
    c.write(`ACK\nid:${ms[2]!.header('ack')}\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    await expectRemaining(env, '/queue/cum', ['m3', 'm4']);
  });
});

describe('SB-06 client-individual', () => {
  for (const v of ['1.1', '1.2'] as StompVersion[]) {
    test(`SB-06 [${v}] 1,000 messages, each batch acked in reverse order; nothing left after`, async (t) => {
      const env = await setup(t);
      await fill(env, '/queue/ci', N);
      const c = await env.connect(v);
      await subscribe(c, '/queue/ci', { id: 's', ack: 'client-individual' });
      const got: string[] = [];
      for (let b = 0; b < N / 100; b++) {
        // the default prefetch is 100: exactly one batch is outstanding at a time
        const ms = await messages(c, 100);
        assert.equal(await c.quiet(20), true, 'no more than the prefetch');
        got.push(...bodies(ms));
        for (const m of ms.reverse()) c.write(ackFrame(v, m));
      }
      assert.deepEqual(got, seq('m', N));
      await sync(c);
      c.destroy();
      await c.closed;
      await expectRemaining(env, '/queue/ci', []);
    });
  }

  test('SB-06 acking the 3rd of 5 acks only it; 1, 2, 4, 5 are redelivered in order', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ind', 5);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ind', { id: 's', ack: 'client-individual' });
    const ms = await messages(c, 5);
    c.write(`ACK\nid:${ms[2]!.header('ack')}\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
    // the earlier ones are still unacknowledged: acking m1 works
    c.write(`ACK\nid:${ms[1]!.header('ack')}\nreceipt:b\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    await expectRemaining(env, '/queue/ind', ['m0', 'm3', 'm4']);
  });
});

describe('A-01 A-02 A-03 ACK headers per version', () => {
  test('A-01 [1.0] ACK by message-id alone, and with subscription', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a10', 3);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\nid:s10\ndestination:/queue/a10\nack:client\nreceipt:r\n\n\0');
    await receipt(c, 'r');
    const ms = await messages(c, 3);
    // client mode is cumulative: ACK m0 alone, then m1 with its subscription.
    c.write(`ACK\nmessage-id:${ms[0]!.header('message-id')}\nreceipt:a0\n\n\0`);
    await c.expect('RECEIPT');
    c.write(`ACK\nmessage-id:${ms[1]!.header('message-id')}\nsubscription:s10\nreceipt:a1\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    await expectRemaining(env, '/queue/a10', ['m2']);
  });

  test('A-01 [1.0] ACK for a SUBSCRIBE without id, by message-id', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a10b', 2);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/a10b\nack:client\nreceipt:r\n\n\0');
    await receipt(c, 'r');
    const ms = await messages(c, 2);
    c.write(`ACK\nmessage-id:${ms[1]!.header('message-id')}\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    await expectRemaining(env, '/queue/a10b', []);
  });

  test('A-02 [1.1] ACK by message-id + subscription', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a11', 3);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/a11', { id: 's11', ack: 'client-individual' });
    const ms = await messages(c, 3);
    c.write(`ACK\nmessage-id:${ms[1]!.header('message-id')}\nsubscription:s11\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    await expectRemaining(env, '/queue/a11', ['m0', 'm2']);
  });

  test('A-02 [1.1] ACK without subscription -> ERROR MISSING_HEADER; the message stays unacked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a11m', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/a11m', { id: 's', ack: 'client' });
    const m = await c.expect('MESSAGE');
    c.write(`ACK\nmessage-id:${m.header('message-id')}\nreceipt:a\n\n\0`);
    await expectError(c, 'MISSING_HEADER', { receiptId: 'a', command: 'ACK' });
    await expectRemaining(env, '/queue/a11m', ['m0']);
  });

  test('A-02 [1.1] ACK naming another subscription: matched by message-id, as RabbitMQ does', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a11w', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/a11w', { id: 'right', ack: 'client' });
    await subscribe(c, '/queue/other', { id: 'wrong', ack: 'client' });
    const m = await c.expect('MESSAGE');
    c.write(`ACK\nmessage-id:${m.header('message-id')}\nsubscription:wrong\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
    await expectRemaining(env, '/queue/a11w', []);
  });

  test('A-02 [1.1] ACK of a message-id no subscription holds -> ERROR UNKNOWN_MESSAGE', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a11u', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/a11u', { id: 's', ack: 'client' });
    await c.expect('MESSAGE');
    c.write(`ACK\nmessage-id:no-such-message\nsubscription:s\nreceipt:a\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'a' });
    await expectRemaining(env, '/queue/a11u', ['m0']);
  });

  test('A-03 [1.2] ACK by id; message-id instead of id -> ERROR MISSING_HEADER', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a12', 2);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/a12', { id: 's', ack: 'client-individual' });
    const ms = await messages(c, 2);
    c.write(`ACK\nid:${ms[0]!.header('ack')}\nreceipt:ok\n\n\0`);
    await c.expect('RECEIPT');
    c.write(`ACK\nmessage-id:${ms[1]!.header('message-id')}\nsubscription:s\nreceipt:bad\n\n\0`);
    await expectError(c, 'MISSING_HEADER', { receiptId: 'bad', command: 'ACK' });
    await expectRemaining(env, '/queue/a12', ['m1']);
  });

  test('A-03 [1.2] ACK whose id is the message-id (not the ack id) -> ERROR UNKNOWN_MESSAGE', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/a12b', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/a12b', { id: 's', ack: 'client' });
    const m = await c.expect('MESSAGE');
    assert.notEqual(m.header('ack'), m.header('message-id'));
    c.write(`ACK\nid:${m.header('message-id')}\nreceipt:r\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'r' });
  });
});

describe('A-06 ACK of an unknown message', () => {
  const unknown: Record<StompVersion, string> = {
    '1.0': 'ACK\nmessage-id:no-such-message\nreceipt:r-x\n\n\0',
    '1.1': 'ACK\nmessage-id:no-such-message\nsubscription:s\nreceipt:r-x\n\n\0',
    '1.2': 'ACK\nid:no-such-ack\nreceipt:r-x\n\n\0',
  };
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`A-06 [${v}] unknown id -> ERROR UNKNOWN_MESSAGE with receipt-id, then close`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      await subscribe(c, '/queue/unk', { id: 's', ack: 'client' });
      c.write(unknown[v]);
      await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'r-x', command: 'ACK' });
      assert.equal(env.broker.stats().errors.UNKNOWN_MESSAGE, 1);
    });
  }

  test('A-06 acking the same message twice -> ERROR UNKNOWN_MESSAGE', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/twice', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/twice', { id: 's', ack: 'client-individual' });
    const m = await c.expect('MESSAGE');
    c.write(
      `ACK\nid:${m.header('ack')}\nreceipt:1\n\n\0ACK\nid:${m.header('ack')}\nreceipt:2\n\n\0`,
    );
    await c.expect('RECEIPT');
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: '2' });
  });

  test('A-06 [1.1] ACK of a message delivered to an auto subscription -> ERROR UNKNOWN_MESSAGE', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/autoack', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/autoack', { id: 's' });
    const m = await c.expect('MESSAGE');
    c.write(`ACK\nmessage-id:${m.header('message-id')}\nsubscription:s\nreceipt:r\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'r' });
  });

  test('A-06 an ack id of another connection is unknown here; that connection keeps it', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/foreign', 1);
    const owner = await env.connect('1.2');
    await subscribe(owner, '/queue/foreign', { id: 's', ack: 'client' });
    const m = await owner.expect('MESSAGE');
    const thief = await env.connect('1.2');
    thief.write(`ACK\nid:${m.header('ack')}\nreceipt:steal\n\n\0`);
    await expectError(thief, 'UNKNOWN_MESSAGE', { receiptId: 'steal' });
    owner.write(`ACK\nid:${m.header('ack')}\nreceipt:mine\n\n\0`);
    assert.equal((await owner.expect('RECEIPT')).header('receipt-id'), 'mine');
  });

  test('A-06 US-02 ACK of a message whose subscription was unsubscribed -> ERROR UNKNOWN_MESSAGE', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/unsub-ack', 2);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/unsub-ack', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 2 },
    });
    const ms = await messages(c, 2);
    c.write('UNSUBSCRIBE\nid:s\nreceipt:u\n\n\0');
    await c.expect('RECEIPT');
    c.write(`ACK\nid:${ms[0]!.header('ack')}\nreceipt:late\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'late' });
    // both went back to the queue at UNSUBSCRIBE
    await expectRemaining(env, '/queue/unsub-ack', ['m0', 'm1']);
  });
});
