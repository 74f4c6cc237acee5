/**
 * 1.P item 9, SB-05: a `client` ACK is cumulative within its own subscription only. With
 * two client subscriptions on one connection receiving interleaved messages, acking the
 * last message of one acks that subscription's earlier messages and none of the other's.
 * Verified from outside: after the connection goes, exactly the other subscription's
 * messages are redelivered to a new consumer; and on a live connection, the other
 * subscription's messages can still be acked while the acked ones are unknown.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
  assertDeliveryCount,
  bodies,
  expectError,
  messages,
  send,
  setup,
  subscribe,
  type Env,
  type Frame,
  type StompVersion,
} from '../helpers/delivery.js';

async function redeliveredTo(env: Env, dests: string[], n: number): Promise<Frame[]> {
  const c = await env.connect('1.2');
  for (const [i, d] of dests.entries()) await subscribe(c, d, { id: `new${i}`, ack: 'client' });
  const ms = await messages(c, n);
  assert.equal(await c.quiet(150), true, 'nothing more is redelivered');
  return ms;
}

describe('1.P#9 cumulative ACK across interleaved subscriptions', () => {
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`1.P#9 SB-05 [${v}] two queues, interleaved: ACK of A's last acks only A's`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      await subscribe(c, '/queue/ia', { id: 'A', ack: 'client' });
      await subscribe(c, '/queue/ib', { id: 'B', ack: 'client' });
      const p = await env.connect('1.2');
      for (let i = 0; i < 10; i++) {
        send(p, '/queue/ia', `a${i}`);
        send(p, '/queue/ib', `b${i}`);
      }
      const ms = await messages(c, 20);
      // interleaved delivery order a0 b0 a1 b1 ...
      assert.deepEqual(
        bodies(ms),
        Array.from({ length: 20 }, (_, i) => `${i % 2 ? 'b' : 'a'}${i >> 1}`),
      );
      const lastA = ms.filter((m) => m.header('destination') === '/queue/ia').at(-1)!;
      c.write(ackFrame(v, lastA, { receipt: 'acked' }));
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'acked');
      c.destroy();
      await c.closed;
      const again = await redeliveredTo(env, ['/queue/ia', '/queue/ib'], 10);
      assert.deepEqual(
        bodies(again),
        Array.from({ length: 10 }, (_, i) => `b${i}`),
      );
      for (const m of again) assertDeliveryCount(m, 1);
      assert.equal(env.broker.queueDepth('/queue/ia'), 0);
    });
  }

  test("1.P#9 one queue, two subscriptions (round-robin): ACK of A's last acks only A's", async (t) => {
    const env = await setup(t, { subscriberScheduler: 'round-robin' });
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/same', { id: 'A', ack: 'client' });
    await subscribe(c, '/queue/same', { id: 'B', ack: 'client' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 10; i++) send(p, '/queue/same', `m${i}`);
    const ms = await messages(c, 10);
    const a = ms.filter((m) => m.header('subscription') === 'A');
    const b = ms.filter((m) => m.header('subscription') === 'B');
    assert.equal(a.length, 5);
    assert.equal(b.length, 5);
    // ACK A's last message; B's earlier (and later) ones must stay unacked.
    c.write(`ACK\nid:${a.at(-1)!.header('ack')}\nreceipt:r\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    const again = await redeliveredTo(env, ['/queue/same'], 5);
    assert.deepEqual(bodies(again), bodies(b));
  });

  test("1.P#9 ACK of A's middle message acks only A's earlier ones; the connection still knows the rest", async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ma', { id: 'A', ack: 'client' });
    await subscribe(c, '/queue/mb', { id: 'B', ack: 'client' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 4; i++) {
      send(p, '/queue/ma', `a${i}`);
      send(p, '/queue/mb', `b${i}`);
    }
    const ms = await messages(c, 8);
    const a = ms.filter((m) => m.header('subscription') === 'A');
    const b = ms.filter((m) => m.header('subscription') === 'B');
    c.write(`ACK\nid:${a[2]!.header('ack')}\nreceipt:1\n\n\0`);
    await c.expect('RECEIPT');
    // B's first message was delivered before A's third: still unacked, so this works.
    c.write(`ACK\nid:${b[0]!.header('ack')}\nreceipt:2\n\n\0`);
    await c.expect('RECEIPT');
    // A's first was covered by the cumulative ACK: unknown now.
    c.write(`ACK\nid:${a[0]!.header('ack')}\nreceipt:3\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: '3' });
    const again = await redeliveredTo(env, ['/queue/ma', '/queue/mb'], 4);
    assert.deepEqual(bodies(again), ['a3', 'b1', 'b2', 'b3']);
  });

  test("1.P#9 topic, two client subscriptions of one connection: ACK on one leaves the other's copies unacked", async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/ic', { id: 'A', ack: 'client' });
    await subscribe(c, '/topic/ic', { id: 'B', ack: 'client' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 3; i++) send(p, '/topic/ic', `t${i}`);
    const ms = await messages(c, 6);
    const a = ms.filter((m) => m.header('subscription') === 'A');
    const b = ms.filter((m) => m.header('subscription') === 'B');
    assert.deepEqual(bodies(a), ['t0', 't1', 't2']);
    assert.deepEqual(bodies(b), ['t0', 't1', 't2']);
    c.write(`ACK\nid:${a[2]!.header('ack')}\nreceipt:1\n\n\0`);
    await c.expect('RECEIPT');
    for (const [i, m] of b.entries()) {
      c.write(`ACK\nid:${m.header('ack')}\nreceipt:b${i}\n\n\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), `b${i}`);
    }
    c.write(`ACK\nid:${a[1]!.header('ack')}\nreceipt:x\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'x' });
  });
});
