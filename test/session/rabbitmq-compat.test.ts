/**
 * Where clients written against RabbitMQ's STOMP plugin expect its behaviour, coilmq
 * behaves the same (docs/rabbitmq.md): `version:1.0` in a 1.0 CONNECTED, NACK on 1.0
 * sessions, a 1.1 ACK/NACK matched by message-id when its `subscription` is wrong,
 * prefetch-count on topic subscriptions, and NACK's `requeue` header.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
  bodies,
  expectError,
  messages,
  send,
  setup,
  subscribe,
  sync,
} from '../helpers/delivery.js';
import { RawClient } from '../helpers/raw-client.js';

describe('RabbitMQ drop-in', () => {
  test('a 1.0 CONNECTED carries version:1.0 and heart-beat:0,0', async (t) => {
    const env = await setup(t);
    const c = await RawClient.open(env.port);
    t.after(() => c.destroy());
    c.write('CONNECT\nlogin:guest\npasscode:guest\nheart-beat:100,100\n\n\0');
    const f = await c.expect('CONNECTED');
    assert.deepEqual(
      f.entries().map(([k]) => k),
      ['version', 'session', 'server', 'heart-beat'],
    );
    assert.equal(f.header('version'), '1.0');
    assert.equal(f.header('heart-beat'), '0,0');
  });

  test('NACK on a 1.0 session requeues the message (an extension: 1.0 has no NACK)', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    send(p, '/queue/r10', 'm');
    await sync(p);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/r10\nack:client\n\n\0');
    const [m] = await messages(c, 1);
    c.write(`NACK\nmessage-id:${m!.header('message-id')}\n\n\0`);
    const [again] = await messages(c, 1);
    assert.equal(again!.header('message-id'), m!.header('message-id'));
    assert.equal(again!.header('redelivered'), 'true');
  });

  test('a 1.1 NACK naming the wrong subscription is matched by its message-id', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    send(p, '/queue/r11', 'm');
    await sync(p);
    const c = await env.connect('1.1');
    await subscribe(c, '/queue/elsewhere', { id: 'other', ack: 'client' });
    await subscribe(c, '/queue/r11', { id: 'mine', ack: 'client' });
    const [m] = await messages(c, 1);
    c.write(
      `NACK\nmessage-id:${m!.header('message-id')}\nsubscription:other\nrequeue:false\nreceipt:n\n\n\0`,
    );
    await c.expect('RECEIPT');
    assert.equal(env.broker.queueDepth('/queue/r11'), 0, 'dropped, as requeue:false says');
  });

  test('prefetch-count on a topic subscription: 10 sent, 5 delivered until acknowledged', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/pf', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 5 },
    });
    const p = await env.connect('1.2');
    for (let i = 0; i < 10; i++) send(p, '/topic/pf', `m${i}`);
    await sync(p);
    const first = await messages(c, 5);
    assert.deepEqual(bodies(first), ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.equal(await c.quiet(150), true, 'the other 5 are held back');
    c.write(ackFrame('1.2', first[0]!));
    assert.deepEqual(bodies(await messages(c, 1)), ['m5']);
    for (const m of first.slice(1)) c.write(ackFrame('1.2', m));
    assert.deepEqual(bodies(await messages(c, 4)), ['m6', 'm7', 'm8', 'm9']);
  });

  test('prefetch-count equal to maxUnackedPerSubscription holds back too (no SLOW_CONSUMER)', async (t) => {
    const env = await setup(t, { maxUnackedPerSubscription: 3 });
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/edge', { id: 's', ack: 'client', headers: { 'prefetch-count': 3 } });
    const p = await env.connect('1.2');
    for (let i = 0; i < 5; i++) send(p, '/topic/edge', `m${i}`);
    await sync(p);
    const first = await messages(c, 3);
    assert.equal(await c.quiet(150), true, 'two held back');
    c.write(ackFrame('1.2', first[2]!)); // client mode: all three
    assert.deepEqual(bodies(await messages(c, 2)), ['m3', 'm4']);
  });

  test('a topic subscription without prefetch-count gets everything at once, as before', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/all', { id: 's', ack: 'client' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 10; i++) send(p, '/topic/all', `m${i}`);
    assert.equal((await messages(c, 10)).length, 10);
  });

  test('held-back topic messages are bounded: past maxUnackedPerSubscription, SLOW_CONSUMER', async (t) => {
    const env = await setup(t, { maxUnackedPerSubscription: 4 });
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/slow', {
      id: 's',
      ack: 'client',
      headers: { 'prefetch-count': 2 },
    });
    const p = await env.connect('1.2');
    for (let i = 0; i < 10; i++) send(p, '/topic/slow', `m${i}`);
    await messages(c, 2);
    await expectError(c, 'SLOW_CONSUMER');
  });

  test('NACK requeue:true requeues even with nackRequeue off; a bad value is INVALID_HEADER', async (t) => {
    const env = await setup(t, { nackRequeue: false });
    const p = await env.connect('1.2');
    send(p, '/queue/rq', 'm');
    await sync(p);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/rq', { id: 's', ack: 'client-individual' });
    const [m] = await messages(c, 1);
    c.write(ackFrame('1.2', m!, { requeue: 'true' }, 'NACK'));
    const [again] = await messages(c, 1);
    assert.equal(again!.header('redelivered'), 'true');
    c.write(ackFrame('1.2', again!, { requeue: 'maybe', receipt: 'bad' }, 'NACK'));
    await expectError(c, 'INVALID_HEADER', { receiptId: 'bad', command: 'NACK' });
  });

  test('NACK requeue:false inside a transaction drops the message at COMMIT', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    send(p, '/queue/rqtx', 'm');
    await sync(p);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/rqtx', { id: 's', ack: 'client-individual' });
    const [m] = await messages(c, 1);
    c.write('BEGIN\ntransaction:tx\n\n\0');
    c.write(ackFrame('1.2', m!, { requeue: 'false', transaction: 'tx' }, 'NACK'));
    c.write('COMMIT\ntransaction:tx\nreceipt:done\n\n\0');
    await c.expect('RECEIPT');
    assert.equal(await c.quiet(150), true, 'not redelivered');
    assert.equal(env.broker.queueDepth('/queue/rqtx'), 0);
  });
});
