/**
 * Topics (every destination not under /queue/): broadcast to every subscription present
 * when the message is sent, the sender's own included; nothing for later subscribers;
 * nothing kept when there is no subscriber. US-02: no MESSAGE after UNSUBSCRIBE.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodies,
  messages,
  send,
  seq,
  setup,
  subscribe,
  sync,
  unsubscribe,
} from '../helpers/delivery.js';

describe('topics', () => {
  for (const dest of ['/topic/news', '/foo', '/queue', '/queues/x', 'no-slash']) {
    test(`${dest} is a topic: every present subscription gets a copy, the sender's own too`, async (t) => {
      const env = await setup(t);
      const a = await env.connect('1.2');
      const b = await env.connect('1.1');
      const s = await env.connect('1.0');
      await subscribe(a, dest, { id: 'a' });
      await subscribe(b, dest, { id: 'b' });
      await subscribe(s, dest, { id: 'own' });
      s.write(`SEND\ndestination:${dest}\nreceipt:r\n\nhello\0`);
      const own = await messages(s, 1);
      await s.expect('RECEIPT');
      assert.equal(own[0]!.header('subscription'), 'own');
      for (const [c, id] of [
        [a, 'a'],
        [b, 'b'],
      ] as const) {
        const m = await c.expect('MESSAGE');
        assert.equal(m.header('subscription'), id);
        assert.equal(m.header('destination'), dest);
        assert.equal(m.body.toString(), 'hello');
      }
      assert.equal(env.broker.queueDepth(dest), 0, 'nothing queued');
      assert.equal(env.broker.stats().queues, 0, 'no queue was made');
    });
  }

  test('a later subscriber gets nothing sent before it subscribed', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    const early = await env.connect('1.2');
    await subscribe(early, '/topic/late', { id: 'e' });
    send(p, '/topic/late', 'before');
    await sync(p);
    const late = await env.connect('1.2');
    await subscribe(late, '/topic/late', { id: 'l' });
    send(p, '/topic/late', 'after');
    assert.equal((await late.expect('MESSAGE')).body.toString(), 'after');
    assert.deepEqual(bodies(await messages(early, 2)), ['before', 'after']);
    assert.equal(await late.quiet(100), true);
  });

  test('a message to a topic without subscribers is dropped', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    send(p, '/foo', 'nobody');
    await sync(p);
    const c = await env.connect('1.2');
    await subscribe(c, '/foo', { id: 's' });
    assert.equal(await c.quiet(150), true);
  });

  test('two subscriptions of one connection to the same topic each get a copy', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/twice', { id: 'x' });
    await subscribe(c, '/topic/twice', { id: 'y', ack: 'client-individual' });
    send(c, '/topic/twice', 'm');
    const ms = await messages(c, 2);
    assert.deepEqual(ms.map((m) => m.header('subscription')).sort(), ['x', 'y']);
    assert.equal(ms[0]!.header('message-id'), ms[1]!.header('message-id'));
    assert.equal(await c.quiet(100), true);
  });

  test('every subscriber sees the topic in send order (1,000 messages, 3 subscribers)', async (t) => {
    const env = await setup(t);
    const subs = await Promise.all([0, 1, 2].map(() => env.connect('1.2')));
    for (const [i, c] of subs.entries()) await subscribe(c, '/topic/bulk', { id: `s${i}` });
    const p = await env.connect('1.2');
    for (let i = 0; i < 1000; i++) send(p, '/topic/bulk', `m${i}`);
    const expected = seq('m', 1000);
    for (const c of subs) assert.deepEqual(bodies(await messages(c, 1000)), expected);
  });

  test('US-02 after UNSUBSCRIBE no MESSAGE for that subscription; the other keeps receiving', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/topic/unsub', { id: 'gone' });
    await subscribe(c, '/topic/unsub', { id: 'stays' });
    const p = await env.connect('1.2');
    send(p, '/topic/unsub', 'one');
    const first = await messages(c, 2);
    assert.deepEqual(first.map((m) => m.header('subscription')).sort(), ['gone', 'stays']);
    await unsubscribe(c, 'gone');
    for (let i = 0; i < 20; i++) send(p, '/topic/unsub', `m${i}`);
    const rest = await messages(c, 20);
    assert.ok(rest.every((m) => m.header('subscription') === 'stays'));
    assert.deepEqual(bodies(rest), seq('m', 20));
    assert.equal(await c.quiet(100), true);
  });

  test('US-01 [1.0] UNSUBSCRIBE by destination stops a topic subscription', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/topic/u10\nreceipt:s\n\n\0');
    await c.expect('RECEIPT');
    c.write('UNSUBSCRIBE\ndestination:/topic/u10\nreceipt:u\n\n\0');
    await c.expect('RECEIPT');
    const p = await env.connect('1.2');
    send(p, '/topic/u10', 'x');
    await sync(p);
    assert.equal(await c.quiet(100), true);
  });
});
