/**
 * Prefetch (brief; SB-09 server-specific SUBSCRIBE headers): `prefetch-count` (alias
 * `activemq.prefetchSize`) caps unacknowledged deliveries of a client-ack subscription;
 * more arrive as messages are ACKed (or NACKed). Default defaultPrefetch, capped by
 * maxUnackedPerSubscription. Auto subscriptions are not limited by it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodies,
  expectError,
  messages,
  send,
  seq,
  setup,
  subscribe,
  sync,
  type Env,
} from '../helpers/delivery.js';
import type { BrokerOptions } from '../../src/index.js';

async function fill(env: Env, dest: string, n: number): Promise<void> {
  const p = await env.connect('1.2');
  for (let i = 0; i < n; i++) send(p, dest, `m${i}`);
  await sync(p);
}

async function start(t: Parameters<typeof setup>[0], options: BrokerOptions = {}, n = 20) {
  const env = await setup(t, options);
  await fill(env, '/queue/pf', n);
  const c = await env.connect('1.2');
  return { env, c };
}

describe('prefetch', () => {
  test('prefetch-count:3 (client-individual): 3 delivered; each ACK lets exactly one more in', async (t) => {
    const { env, c } = await start(t);
    await subscribe(c, '/queue/pf', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 3 },
    });
    const first = await messages(c, 3);
    assert.deepEqual(bodies(first), seq('m', 3));
    assert.equal(await c.quiet(100), true, 'no 4th before an ACK');
    assert.equal(env.broker.queueDepth('/queue/pf'), 17);
    c.write(`ACK\nid:${first[1]!.header('ack')}\n\n\0`);
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'm3');
    assert.equal(await c.quiet(50), true, 'exactly one more');
    c.write(`ACK\nid:${first[0]!.header('ack')}\n\n\0ACK\nid:${first[2]!.header('ack')}\n\n\0`);
    assert.deepEqual(bodies(await messages(c, 2)), ['m4', 'm5']);
    assert.equal(await c.quiet(50), true);
  });

  test('activemq.prefetchSize:2 is an alias', async (t) => {
    const { c } = await start(t);
    await subscribe(c, '/queue/pf', {
      id: 's',
      ack: 'client',
      headers: { 'activemq.prefetchSize': 2 },
    });
    const ms = await messages(c, 2);
    assert.equal(await c.quiet(100), true);
    c.write(`ACK\nid:${ms[1]!.header('ack')}\n\n\0`);
    assert.deepEqual(bodies(await messages(c, 2)), ['m2', 'm3']);
    assert.equal(await c.quiet(50), true);
  });

  test('client mode: a cumulative ACK frees every slot it covers', async (t) => {
    const { c } = await start(t);
    await subscribe(c, '/queue/pf', { id: 's', ack: 'client', headers: { 'prefetch-count': 5 } });
    const ms = await messages(c, 5);
    assert.equal(await c.quiet(50), true);
    c.write(`ACK\nid:${ms[3]!.header('ack')}\n\n\0`);
    assert.deepEqual(bodies(await messages(c, 4)), ['m5', 'm6', 'm7', 'm8']);
    assert.equal(await c.quiet(50), true);
  });

  test('a NACK frees a slot too (the NACKed message is the one that comes back)', async (t) => {
    const { c } = await start(t);
    await subscribe(c, '/queue/pf', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 2 },
    });
    const ms = await messages(c, 2);
    c.write(`NACK\nid:${ms[0]!.header('ack')}\n\n\0`);
    const again = await c.expect('MESSAGE');
    assert.equal(again.body.toString(), 'm0');
    assert.equal(await c.quiet(50), true);
  });

  test('prefetch is per subscription: two subscriptions of one connection, 2 each', async (t) => {
    const env = await setup(t);
    await fill(env, '/queue/pa', 5);
    const p = await env.connect('1.2');
    for (let i = 0; i < 5; i++) send(p, '/queue/pb', `n${i}`);
    await sync(p);
    const c = await env.connect('1.2');
    const headers = { 'prefetch-count': 2 };
    await subscribe(c, '/queue/pa', { id: 'a', ack: 'client', headers });
    await subscribe(c, '/queue/pb', { id: 'b', ack: 'client', headers });
    const ms = await messages(c, 4);
    assert.deepEqual(bodies(ms), ['m0', 'm1', 'n0', 'n1']);
    assert.equal(await c.quiet(100), true);
  });

  test('defaultPrefetch applies when SUBSCRIBE names none', async (t) => {
    const { c } = await start(t, { defaultPrefetch: 4 });
    await subscribe(c, '/queue/pf', { id: 's', ack: 'client' });
    await messages(c, 4);
    assert.equal(await c.quiet(100), true);
  });

  test('maxUnackedPerSubscription caps a larger prefetch-count', async (t) => {
    const { c } = await start(t, { maxUnackedPerSubscription: 3 });
    await subscribe(c, '/queue/pf', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 10 },
    });
    await messages(c, 3);
    assert.equal(await c.quiet(100), true);
  });

  test('the default prefetch is 100', async (t) => {
    const { c } = await start(t, {}, 150);
    await subscribe(c, '/queue/pf', { id: 's', ack: 'client' });
    const ms = await messages(c, 100);
    assert.equal(await c.quiet(100), true);
    c.write(`ACK\nid:${ms[99]!.header('ack')}\n\n\0`);
    assert.deepEqual(bodies(await messages(c, 50)), seq('m', 50, 100));
  });

  test('an auto subscription is not limited by the default prefetch', async (t) => {
    const { c } = await start(t, { defaultPrefetch: 2 }, 300);
    await subscribe(c, '/queue/pf', { id: 's' });
    assert.deepEqual(bodies(await messages(c, 300)), seq('m', 300));
  });

  test('more arrive after ACK until the queue is empty (prefetch 1, 50 messages)', async (t) => {
    const { env, c } = await start(t, {}, 50);
    await subscribe(c, '/queue/pf', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 1 },
    });
    for (let i = 0; i < 50; i++) {
      const m = await c.expect('MESSAGE');
      assert.equal(m.body.toString(), `m${i}`);
      assert.equal(c.frames.length, 0, 'only one outstanding');
      c.write(`ACK\nid:${m.header('ack')}\n\n\0`);
    }
    assert.equal(await c.quiet(50), true);
    assert.equal(env.broker.queueDepth('/queue/pf'), 0);
  });

  for (const bad of ['0', '-1', 'abc', '1.5', '']) {
    test(`prefetch-count:${bad} -> ERROR INVALID_HEADER`, async (t) => {
      const env = await setup(t);
      const c = await env.connect('1.2');
      c.write(
        `SUBSCRIBE\nid:s\ndestination:/queue/pf\nack:client\nprefetch-count:${bad}\nreceipt:r\n\n\0`,
      );
      await expectError(c, 'INVALID_HEADER', { receiptId: 'r', command: 'SUBSCRIBE' });
    });
  }
});
