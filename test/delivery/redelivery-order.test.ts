/**
 * SB-07, US-02, D-03: unacknowledged queue messages go back to the head of their queue,
 * in their original order, when the consumer's connection ends (socket gone, DISCONNECT,
 * ERROR) or it UNSUBSCRIBEs; they are then marked redelivered:true with
 * x-delivery-count = earlier deliveries. No MESSAGE for a subscription after its
 * UNSUBSCRIBE has been processed.
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
  unsubscribe,
  type Env,
  type Frame,
} from '../helpers/delivery.js';

async function fill(env: Env, dest: string, n: number, from = 0): Promise<void> {
  const p = await env.connect('1.2');
  for (let i = from; i < from + n; i++) send(p, dest, `m${i}`);
  await sync(p);
}

/** A consumer holding the first `n` messages unacked (prefetch n). */
async function holder(
  env: Env,
  dest: string,
  n: number,
  ack: 'client' | 'client-individual' = 'client',
) {
  const c = await env.connect('1.2');
  await subscribe(c, dest, { id: 'h', ack, headers: { 'prefetch-count': n } });
  const ms = await messages(c, n);
  assert.equal(await c.quiet(30), true);
  return { c, ms };
}

async function drainAll(env: Env, dest: string, n: number): Promise<Frame[]> {
  const c = await env.connect('1.2');
  await subscribe(c, dest, {
    id: 'next',
    ack: 'client-individual',
    headers: { 'prefetch-count': 1000 },
  });
  const ms = await messages(c, n);
  assert.equal(await c.quiet(100), true, 'nothing more');
  return ms;
}

function checkCounts(ms: Frame[], redelivered: number, count = 1) {
  for (const [i, m] of ms.entries()) assertDeliveryCount(m, i < redelivered ? count : 0);
}

describe('SB-07 D-03 connection end', () => {
  test('SB-07 socket closed without DISCONNECT: unacked go back to the head, in order, marked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r1', 10);
    const { c } = await holder(env, '/queue/r1', 5);
    assert.equal(env.broker.queueDepth('/queue/r1'), 5);
    c.destroy();
    await c.closed;
    const ms = await drainAll(env, '/queue/r1', 10);
    assert.deepEqual(bodies(ms), seq('m', 10));
    checkCounts(ms, 5);
  });

  test('D-01 D-03 DISCONNECT with receipt: RECEIPT, close, then the unacked are redelivered in order', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r2', 8);
    const { c } = await holder(env, '/queue/r2', 4, 'client-individual');
    c.write('DISCONNECT\nreceipt:bye\n\n\0');
    assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'bye');
    await c.waitClosed();
    const ms = await drainAll(env, '/queue/r2', 8);
    assert.deepEqual(bodies(ms), seq('m', 8));
    checkCounts(ms, 4);
  });

  test('SB-07 a connection closed by an ERROR gives its unacked back too', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r3', 3);
    const { c } = await holder(env, '/queue/r3', 3);
    c.write('COMMIT\ntransaction:none\n\n\0');
    await expectError(c, 'UNKNOWN_TRANSACTION');
    const ms = await drainAll(env, '/queue/r3', 3);
    assert.deepEqual(bodies(ms), seq('m', 3));
    checkCounts(ms, 3);
  });

  test('SB-07 partly acked (client-individual): only the unacked come back, in order, ahead of the backlog', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r4', 8);
    const { c, ms } = await holder(env, '/queue/r4', 5, 'client-individual');
    for (const i of [1, 3]) c.write(`ACK\nid:${ms[i]!.header('ack')}\n\n\0`);
    await sync(c);
    c.destroy();
    await c.closed;
    const again = await drainAll(env, '/queue/r4', 6);
    // acking m1 and m3 let m5 and m6 in (prefetch 5); m7 stayed in the queue
    assert.deepEqual(bodies(again), ['m0', 'm2', 'm4', 'm5', 'm6', 'm7']);
    checkCounts(again, 5);
  });

  test('SB-07 x-delivery-count grows with each failed delivery', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r5', 2);
    for (let round = 0; round < 3; round++) {
      const { c, ms } = await holder(env, '/queue/r5', 2);
      for (const m of ms) assertDeliveryCount(m, round);
      c.destroy();
      await c.closed;
    }
    const ms = await drainAll(env, '/queue/r5', 2);
    assert.deepEqual(bodies(ms), ['m0', 'm1']);
    checkCounts(ms, 2, 3);
  });

  test('SB-07 messages delivered to auto subscriptions are not redelivered', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/r6', 5);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/r6', { id: 'auto' });
    await messages(c, 5);
    c.destroy();
    await c.closed;
    await drainAll(env, '/queue/r6', 0);
  });

  test(
    'SB-07 D-03 one connection, two subscriptions on one queue: unacked come back in original order',
    {},
    async (t) => {
      const env = await setup(t, { subscriberScheduler: 'round-robin' });
      const c = await env.connect('1.2');
      const headers = { 'prefetch-count': 3 };
      await subscribe(c, '/queue/r7', { id: 'A', ack: 'client', headers });
      await subscribe(c, '/queue/r7', { id: 'B', ack: 'client-individual', headers });
      await fill(env, '/queue/r7', 6);
      const ms = await messages(c, 6);
      assert.deepEqual(bodies(ms), seq('m', 6));
      assert.deepEqual(
        ms.map((m) => m.header('subscription')),
        ['A', 'B', 'A', 'B', 'A', 'B'],
      );
      await fill(env, '/queue/r7', 2, 6); // stays queued: both subscriptions are full
      assert.equal(await c.quiet(30), true);
      c.destroy();
      await c.closed;
      const again = await drainAll(env, '/queue/r7', 8);
      assert.deepEqual(bodies(again), seq('m', 8));
      checkCounts(again, 6);
    },
  );
});

describe('US-02 UNSUBSCRIBE', () => {
  test('US-02 unacked return to the head of the queue in order; a new subscription gets them', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/u1', 6);
    const { c } = await holder(env, '/queue/u1', 3);
    await unsubscribe(c, 'h');
    assert.equal(env.broker.queueDepth('/queue/u1'), 6);
    await subscribe(c, '/queue/u1', { id: 'h2', ack: 'client-individual' });
    const ms = await messages(c, 6);
    assert.deepEqual(bodies(ms), seq('m', 6));
    assert.ok(ms.every((m) => m.header('subscription') === 'h2'));
    checkCounts(ms, 3);
  });

  test('US-02 no MESSAGE for a subscription after its UNSUBSCRIBE receipt, while sends go on', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/u2', { id: 'gone' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 200; i++) send(p, '/queue/u2', `m${i}`);
    // Unsubscribe somewhere in the middle of the stream.
    await messages(c, 10);
    c.write('UNSUBSCRIBE\nid:gone\nreceipt:u\n\n\0');
    let before = 10;
    for (;;) {
      const f = await c.next();
      if (f.command === 'RECEIPT') break;
      assert.equal(f.command, 'MESSAGE');
      before++;
    }
    for (let i = 200; i < 300; i++) send(p, '/queue/u2', `m${i}`);
    await sync(p);
    assert.equal(await c.quiet(150), true, 'no MESSAGE after the UNSUBSCRIBE receipt');
    assert.equal(env.broker.queueDepth('/queue/u2'), 300 - before, 'the rest is kept');
  });

  test('US-02 after an auto subscriber leaves, the remaining one gets every later message', async (t) => {
    const env = await setup(t);
    const a = await env.connect('1.2');
    const b = await env.connect('1.2');
    await subscribe(a, '/queue/u3', { id: 'a' });
    await subscribe(b, '/queue/u3', { id: 'b' });
    await unsubscribe(a, 'a');
    await fill(env, '/queue/u3', 50);
    assert.deepEqual(bodies(await messages(b, 50)), seq('m', 50));
    assert.equal(await a.quiet(50), true);
  });

  test('US-01 US-02 [1.0] UNSUBSCRIBE by destination returns the unacked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/u4', 3);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/u4\nack:client\nprefetch-count:2\nreceipt:s\n\n\0');
    await receipt(c, 's');
    await messages(c, 2);
    c.write('UNSUBSCRIBE\ndestination:/queue/u4\nreceipt:u\n\n\0');
    await receipt(c, 'u');
    assert.equal(await c.quiet(50), true);
    const ms = await drainAll(env, '/queue/u4', 3);
    assert.deepEqual(bodies(ms), seq('m', 3));
    checkCounts(ms, 2);
  });

  test('US-01 [1.2] UNSUBSCRIBE of an unknown id -> ERROR UNKNOWN_SUBSCRIPTION; its held messages come back', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/u5', 2);
    const { c } = await holder(env, '/queue/u5', 2);
    c.write('UNSUBSCRIBE\nid:nope\nreceipt:u\n\n\0');
    await expectError(c, 'UNKNOWN_SUBSCRIPTION', { receiptId: 'u', command: 'UNSUBSCRIBE' });
    const ms = await drainAll(env, '/queue/u5', 2);
    checkCounts(ms, 2);
  });
});
