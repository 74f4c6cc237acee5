/**
 * NACK: A-04 the message goes back to the head of its queue and is redelivered
 * (redelivered:true, x-delivery-count = earlier deliveries); A-05 in `client` mode NACK
 * covers every earlier unacknowledged message of the subscription, in `client-individual`
 * only the one; its headers per version; A-06 unknown id -> ERROR; F-05 there is
 * no NACK in 1.0; nackRequeue:false drops instead.
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
  sync,
  type Env,
} from '../helpers/delivery.js';

async function fill(env: Env, dest: string, n: number): Promise<void> {
  const p = await env.connect('1.2');
  for (let i = 0; i < n; i++) send(p, dest, `m${i}`);
  await sync(p);
}

describe('A-04 A-05 NACK', () => {
  test('A-04 [1.2] client-individual NACK: the same message comes back first, marked redelivered', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/n1', 3);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/n1', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 1 },
    });
    const first = await c.expect('MESSAGE');
    assert.equal(first.body.toString(), 'm0');
    assertDeliveryCount(first, 0);
    c.write(`NACK\nid:${first.header('ack')}\nreceipt:n\n\n\0`);
    const frames = [await c.next(), await c.next()];
    const again = frames.find((f) => f.command === 'MESSAGE')!;
    assert.ok(frames.some((f) => f.command === 'RECEIPT' && f.header('receipt-id') === 'n'));
    assert.equal(again.body.toString(), 'm0', 'requeued at the head, before m1');
    assert.equal(again.header('message-id'), first.header('message-id'));
    assert.notEqual(again.header('ack'), first.header('ack'), 'a new ack id per delivery');
    assertDeliveryCount(again, 1);
    assert.deepEqual(
      again.entries().map(([k]) => k),
      [
        'subscription',
        'message-id',
        'ack',
        'redelivered',
        'x-delivery-count',
        'destination',
        'content-length',
      ],
    );
    // the old ack id is spent
    c.write(`ACK\nid:${again.header('ack')}\n\n\0`);
    const rest = await messages(c, 1);
    assert.equal(rest[0]!.body.toString(), 'm1');
    assertDeliveryCount(rest[0]!, 0);
  });

  test('A-04 x-delivery-count counts every earlier delivery (NACK three times)', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/n3', 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/n3', { id: 's', ack: 'client-individual' });
    let m = await c.expect('MESSAGE');
    for (let k = 1; k <= 3; k++) {
      c.write(`NACK\nid:${m.header('ack')}\n\n\0`);
      m = await c.expect('MESSAGE');
      assertDeliveryCount(m, k);
    }
    c.write(`ACK\nid:${m.header('ack')}\nreceipt:done\n\n\0`);
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(100), true);
    assert.equal(env.broker.queueDepth('/queue/n3'), 0);
  });

  test('A-05 client mode: NACK of the 3rd of 4 requeues 1..3 in order; the 4th stays unacked', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/nc', 6);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/nc', { id: 's', ack: 'client', headers: { 'prefetch-count': 4 } });
    const ms = await messages(c, 4);
    assert.deepEqual(bodies(ms), ['m0', 'm1', 'm2', 'm3']);
    assert.equal(await c.quiet(50), true);
    c.write(`NACK\nid:${ms[2]!.header('ack')}\n\n\0`);
    // three slots free: m0..m2 come back, ahead of m4 and m5
    const again = await messages(c, 3);
    assert.deepEqual(bodies(again), ['m0', 'm1', 'm2']);
    for (const m of again) assertDeliveryCount(m, 1);
    assert.equal(await c.quiet(50), true, 'prefetch 4: m3 + three redeliveries');
    // m3 is still unacknowledged, and it was delivered before the redeliveries: a
    // cumulative ACK of it covers only m3, which frees one slot (m4).
    c.write(`ACK\nid:${ms[3]!.header('ack')}\nreceipt:a\n\n\0`);
    const frames = [await c.next(), await c.next()];
    assert.deepEqual(frames.map((f) => f.command).sort(), ['MESSAGE', 'RECEIPT']);
    const m4 = frames.find((f) => f.command === 'MESSAGE')!;
    assert.equal(m4.body.toString(), 'm4');
    assert.equal(await c.quiet(50), true);
    // ACK of the last redelivery covers the redeliveries of m0..m2, not m4 (delivered
    // after it): three slots free, m5 follows.
    c.write(`ACK\nid:${again[2]!.header('ack')}\n\n\0`);
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'm5');
    c.write(`ACK\nid:${again[1]!.header('ack')}\nreceipt:x\n\n\0`);
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'x' });
  });

  test('A-05 client-individual: NACK of the 2nd of 3 requeues only it', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/ni', 3);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ni', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 3 },
    });
    const ms = await messages(c, 3);
    c.write(`NACK\nid:${ms[1]!.header('ack')}\n\n\0`);
    const again = await c.expect('MESSAGE');
    assert.equal(again.body.toString(), 'm1');
    assertDeliveryCount(again, 1);
    assert.equal(await c.quiet(50), true);
    // m0 and m2 still unacknowledged
    c.write(`ACK\nid:${ms[0]!.header('ack')}\nreceipt:0\n\n\0`);
    await c.expect('RECEIPT');
    c.write(`ACK\nid:${ms[2]!.header('ack')}\nreceipt:2\n\n\0`);
    await c.expect('RECEIPT');
  });

  test('A-02 [1.1] NACK by message-id + subscription; a requeued message can go to another consumer', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/n11', 1);
    const a = await env.connect('1.1');
    await subscribe(a, '/queue/n11', { id: 'sa', ack: 'client' });
    const m = await a.expect('MESSAGE');
    const b = await env.connect('1.2');
    await subscribe(b, '/queue/n11', { id: 'sb', ack: 'client-individual' });
    // The NACKed message may come back to a or go to b; then a leaves the queue, which
    // returns anything it holds, so b ends up with m0 either way.
    a.write(ackFrame('1.1', m, { receipt: 'n' }, 'NACK'));
    a.write('UNSUBSCRIBE\nid:sa\nreceipt:u\n\n\0');
    const toA: string[] = [];
    for (;;) {
      const f = await a.next();
      if (f.command === 'RECEIPT' && f.header('receipt-id') === 'u') break;
      if (f.command === 'MESSAGE') {
        assert.equal(f.body.toString(), 'm0');
        assertDeliveryCount(f, 1);
        toA.push(f.header('message-id')!);
      } else assert.equal(f.header('receipt-id'), 'n');
    }
    const got = await b.expect('MESSAGE');
    assert.equal(got.body.toString(), 'm0');
    assert.equal(got.header('message-id'), m.header('message-id'));
    assertDeliveryCount(got, 1 + toA.length);
    assert.equal(await b.quiet(50), true);
  });

  test('A-02 [1.1] NACK without subscription -> ERROR MISSING_HEADER', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/n11m', 1);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/n11m', { id: 's', ack: 'client' });
    const m = await c.expect('MESSAGE');
    c.write(`NACK\nmessage-id:${m.header('message-id')}\nreceipt:r\n\n\0`);
    await expectError(c, 'MISSING_HEADER', { receiptId: 'r', command: 'NACK' });
  });

  test('A-06 [1.2] NACK of an unknown id -> ERROR UNKNOWN_MESSAGE with receipt-id', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    c.write('NACK\nid:nope\nreceipt:r\n\n\0');
    await expectError(c, 'UNKNOWN_MESSAGE', { receiptId: 'r', command: 'NACK' });
  });

  test('[1.0] NACK (from 1.1, accepted in 1.0 as RabbitMQ does) with requeue:false drops the message', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/n10', 1);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/n10\nack:client\n\n\0');
    const m = await c.expect('MESSAGE');
    c.write(`NACK\nmessage-id:${m.header('message-id')}\nrequeue:false\nreceipt:r\n\n\0`);
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(200), true, 'not redelivered');
    assert.equal(env.broker.queueDepth('/queue/n10'), 0, 'dropped');
  });

  test('A-04 a NACK of a topic message does not redeliver it', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/nt', { id: 's', ack: 'client-individual' });
    send(c, '/topic/nt', 'x');
    const m = await c.expect('MESSAGE');
    c.write(`NACK\nid:${m.header('ack')}\nreceipt:r\n\n\0`);
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(100), true);
  });

  test('nackRequeue:false drops NACKed messages; the next one is delivered', async (t) => {
    const env = await setup(t, { nackRequeue: false });
    await fill(env, '/queue/drop', 2);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/drop', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 1 },
    });
    const m = await c.expect('MESSAGE');
    assert.equal(m.body.toString(), 'm0');
    c.write(`NACK\nid:${m.header('ack')}\n\n\0`);
    const n = await c.expect('MESSAGE');
    assert.equal(n.body.toString(), 'm1');
    assertDeliveryCount(n, 0);
    c.write(`ACK\nid:${n.header('ack')}\nreceipt:r\n\n\0`);
    await c.expect('RECEIPT');
    c.destroy();
    await c.closed;
    assert.equal(env.broker.queueDepth('/queue/drop'), 0, 'm0 is gone');
  });
});
