/**
 * Queues (/queue/...): point-to-point. A queue keeps messages until a consumer
 * subscribes; each message goes to exactly one subscription; each producer's messages
 * keep their order. SUBSCRIBE's RECEIPT comes before the backlog (R-01, brief).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodies,
  messages,
  receipt,
  send,
  seq,
  setup,
  subscribe,
  sync,
} from '../helpers/delivery.js';

describe('queues', () => {
  test('a queue keeps messages until a consumer subscribes, then delivers them in order', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    for (let i = 0; i < 5; i++) p.write(`SEND\ndestination:/queue/keep\nreceipt:r${i}\n\nm${i}\0`);
    for (let i = 0; i < 5; i++)
      assert.equal((await p.expect('RECEIPT')).header('receipt-id'), `r${i}`);
    p.destroy();
    await p.closed;
    assert.equal(env.broker.queueDepth('/queue/keep'), 5, 'kept after the producer left');
    const c = await env.connect('1.2');
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/keep\nreceipt:sub\n\n\0');
    const r = await c.next();
    assert.equal(r.command, 'RECEIPT', 'the RECEIPT comes before the backlog');
    assert.equal(r.header('receipt-id'), 'sub');
    assert.deepEqual(bodies(await messages(c, 5)), seq('m', 5));
    assert.equal(env.broker.queueDepth('/queue/keep'), 0);
    assert.equal(await c.quiet(100), true);
  });

  test('queues are independent of each other', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    send(p, '/queue/one', 'a');
    send(p, '/queue/two', 'b');
    send(p, '/queue/one', 'c');
    await sync(p);
    assert.equal(env.broker.queueDepth('/queue/one'), 2);
    assert.equal(env.broker.queueDepth('/queue/two'), 1);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/two', { id: 'two' });
    const m = await c.expect('MESSAGE');
    assert.equal(m.body.toString(), 'b');
    assert.equal(await c.quiet(100), true, 'nothing from /queue/one');
    assert.equal(env.broker.queueDepth('/queue/one'), 2);
  });

  test('each message goes to exactly one subscription (two consumers, two subscriptions on one connection)', async (t) => {
    const env = await setup(t);
    const a = await env.connect('1.2');
    const b = await env.connect('1.1');
    await subscribe(a, '/queue/once', { id: 'a1' });
    await subscribe(a, '/queue/once', { id: 'a2' });
    await subscribe(b, '/queue/once', { id: 'b1' });
    const p = await env.connect('1.2');
    const n = 300;
    for (let i = 0; i < n; i++) send(p, '/queue/once', `m${i}`);
    await sync(p);
    const seen = new Map<string, string>();
    const take = async (c: typeof a) => {
      for (;;) {
        if (seen.size === n) return;
        let f;
        try {
          f = await c.next(300);
        } catch {
          return;
        }
        assert.equal(f.command, 'MESSAGE');
        const body = f.body.toString();
        assert.ok(!seen.has(body), `${body} delivered twice`);
        seen.set(body, f.header('subscription')!);
      }
    };
    await Promise.all([take(a), take(b)]);
    assert.equal(seen.size, n);
    assert.equal(await a.quiet(100), true);
    assert.equal(await b.quiet(0), true);
    assert.equal(env.broker.queueDepth('/queue/once'), 0);
  });

  test('per-producer order: interleaved producers, one consumer sees each producer in order', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/order', { id: 's' });
    const producers = await Promise.all([0, 1, 2].map(() => env.connect('1.2')));
    const n = 200;
    for (let i = 0; i < n; i++) {
      for (const [k, p] of producers.entries()) send(p, '/queue/order', `${k}:${i}`, { p: k });
    }
    const ms = await messages(c, n * producers.length);
    const next = [0, 0, 0];
    for (const m of ms) {
      const [k, i] = m.body.toString().split(':').map(Number) as [number, number];
      assert.equal(i, next[k], `producer ${k} in order`);
      next[k]!++;
    }
    assert.deepEqual(next, [n, n, n]);
  });

  test('messages sent before and after a consumer joins all arrive once, in order', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    for (let i = 0; i < 50; i++) send(p, '/queue/join', `m${i}`);
    await sync(p);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/join\nreceipt:s\n\n\0');
    await receipt(c, 's');
    for (let i = 50; i < 100; i++) send(p, '/queue/join', `m${i}`);
    assert.deepEqual(bodies(await messages(c, 100)), seq('m', 100));
    assert.equal(await c.quiet(100), true);
  });

  test('a queue message is not given to a topic subscriber of a similar name', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue', { id: 'bare' });
    await subscribe(c, '/topic/queue/x', { id: 'topic' });
    const p = await env.connect('1.2');
    send(p, '/queue/x', 'q');
    await sync(p);
    assert.equal(await c.quiet(100), true);
    assert.equal(env.broker.queueDepth('/queue/x'), 1);
  });
});
