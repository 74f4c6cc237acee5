/**
 * Slow consumers (brief, "Flow"): a topic subscriber whose socket does not read is
 * disconnected with ERROR SLOW_CONSUMER (too many unsent bytes at delivery time, or above
 * highWaterMark for longer than slowConsumerTimeout, or a client-ack topic subscription
 * with maxUnackedPerSubscription unacked), while the other subscribers keep receiving.
 * A queue consumer that does not read is never disconnected: the broker stops giving it
 * messages once its unsent bytes pass highWaterMark, and the other consumers take them.
 *
 * A socket that does not read is a RawClient with `socket.pause()`; the kernel's socket
 * buffers absorb some megabytes before the broker's own buffer grows, so the bounds
 * below allow for them (read from /proc on Linux).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bodies,
  expectError,
  messages,
  receipt,
  send,
  seq,
  setup,
  sleep,
  subscribe,
  sync,
  until,
  type Frame,
  type RawClient,
} from '../helpers/delivery.js';

/** Bytes the kernel may hold for a connection that never reads (send + receive buffers). */
function kernelBuffers(): number {
  try {
    const wmem = readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/);
    const rmem = readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/);
    return Number(wmem[2]) + 2 * Number(rmem[1]);
  } catch {
    return 8 * 1024 * 1024;
  }
}

/** Frames until the client has been quiet for `ms` (or the connection closed). */
async function drain(c: RawClient, ms = 300): Promise<Frame[]> {
  const out: Frame[] = [];
  for (;;) {
    try {
      out.push(await c.next(ms));
    } catch {
      return out;
    }
  }
}

const KB = 1024;

describe('slow topic subscribers', () => {
  test('more than slowConsumerMaxBytes unsent -> ERROR SLOW_CONSUMER; the other subscriber gets everything', async (t) => {
    const env = await setup(t, {
      slowConsumerMaxBytes: 256 * KB,
      slowConsumerTimeout: 0,
      closeLinger: 5000,
    });
    const slow = await env.connect('1.2');
    const fast = await env.connect('1.2');
    await subscribe(slow, '/topic/s', { id: 'slow' });
    await subscribe(fast, '/topic/s', { id: 'fast' });
    slow.socket.pause();
    const p = await env.connect('1.2');
    // Paced so the fast subscriber is never more than one batch (128 KiB) behind, while
    // the paused one falls further behind with every batch.
    const size = 32 * KB;
    const batch = 4;
    const cap = Math.ceil((2 * kernelBuffers()) / size);
    const body = Buffer.alloc(size, 'x');
    let n = 0;
    while (env.broker.stats().errors.SLOW_CONSUMER === undefined) {
      assert.ok(n < cap, `no SLOW_CONSUMER after ${n * size} bytes`);
      for (let i = 0; i < batch; i++) send(p, '/topic/s', body, { seq: n + i });
      const ms = await messages(fast, batch);
      assert.deepEqual(
        ms.map((m) => m.header('seq')),
        seq('', batch, n),
        'the fast subscriber gets every message in order',
      );
      n += batch;
    }
    await sync(p);
    assert.equal(env.broker.stats().errors.SLOW_CONSUMER, 1);
    assert.equal(env.broker.stats().connections, 3, 'only the slow one was dropped');
    // the slow one, once it reads, finds a prefix of the stream, then the ERROR
    slow.socket.resume();
    const frames = await drain(slow);
    const err = frames.at(-1)!;
    assert.equal(err.command, 'ERROR', 'ends with an ERROR');
    assert.equal(err.header('code'), 'SLOW_CONSUMER');
    assert.match(err.header('message')!, /\(SLOW_CONSUMER\)/);
    const ms = frames.slice(0, -1);
    assert.ok(ms.every((f) => f.command === 'MESSAGE'));
    assert.ok(ms.length < n, 'not everything reached the slow one');
    assert.deepEqual(
      ms.map((f) => f.header('seq')),
      seq('', ms.length),
    );
    await slow.waitClosed();
    // the topic goes on for the others
    send(p, '/topic/s', 'after');
    assert.equal((await fast.expect('MESSAGE')).body.toString(), 'after');
  });

  test('above highWaterMark for longer than slowConsumerTimeout -> ERROR SLOW_CONSUMER', async (t) => {
    const env = await setup(t, {
      highWaterMark: 64 * KB,
      slowConsumerTimeout: 500,
      closeLinger: 5000,
    });
    const slow = await env.connect('1.2');
    const fast = await env.connect('1.1');
    await subscribe(slow, '/topic/t', { id: 'slow' });
    await subscribe(fast, '/topic/t', { id: 'fast' });
    slow.socket.pause();
    const p = await env.connect('1.2');
    const size = 64 * KB;
    const n = Math.ceil(kernelBuffers() / size) + 16;
    const body = Buffer.alloc(size, 'y');
    const start = Date.now();
    for (let i = 0; i < n; i++) send(p, '/topic/t', body);
    await sync(p);
    assert.equal((await messages(fast, n)).length, n);
    if (Date.now() - start < 400) {
      assert.equal(env.broker.stats().errors.SLOW_CONSUMER, undefined, 'not before the timeout');
    }
    await until(() => env.broker.stats().errors.SLOW_CONSUMER === 1, 'SLOW_CONSUMER', 3000);
    assert.ok(Date.now() - start >= 500, 'not before slowConsumerTimeout');
    slow.socket.resume();
    const frames = await drain(slow);
    assert.equal(frames.at(-1)!.command, 'ERROR');
    assert.equal(frames.at(-1)!.header('code'), 'SLOW_CONSUMER');
    await slow.waitClosed();
    for (let i = 0; i < 10; i++) send(p, '/topic/t', `after${i}`);
    assert.deepEqual(bodies(await messages(fast, 10)), seq('after', 10));
  });

  test('a client-ack topic subscription at maxUnackedPerSubscription -> ERROR SLOW_CONSUMER', async (t) => {
    const env = await setup(t, { maxUnackedPerSubscription: 5 });
    const lazy = await env.connect('1.2');
    const other = await env.connect('1.2');
    await subscribe(lazy, '/topic/u', { id: 'lazy', ack: 'client' });
    await subscribe(other, '/topic/u', { id: 'other', ack: 'client-individual' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 5; i++) send(p, '/topic/u', `m${i}`);
    const ms = await messages(lazy, 5);
    const os = await messages(other, 5);
    // `other` acks, `lazy` does not
    for (const m of os) other.write(`ACK\nid:${m.header('ack')}\n\n\0`);
    await sync(other);
    assert.equal(await lazy.quiet(50), true);
    send(p, '/topic/u', 'm5');
    await expectError(lazy, 'SLOW_CONSUMER');
    assert.deepEqual(bodies(ms), seq('m', 5));
    assert.equal((await other.expect('MESSAGE')).body.toString(), 'm5');
  });

  test(
    'a topic subscriber that reads everything is not a slow consumer, even with a small highWaterMark',
    {},
    async (t) => {
      const env = await setup(t, { highWaterMark: 1024, slowConsumerTimeout: 300 });
      const c = await env.connect('1.2');
      await subscribe(c, '/topic/fast', { id: 's' });
      const p = await env.connect('1.2');
      // three 2 KiB messages in one TCP write: the second finds > 1 KiB unsent
      const body = 'z'.repeat(2048);
      p.write(`SEND\ndestination:/topic/fast\n\n${body}\0`.repeat(3));
      assert.equal((await messages(c, 3)).length, 3);
      await sleep(600);
      assert.equal(c.frames.length, 0, `nothing more: ${c.frames.map((f) => f.header('message'))}`);
      assert.equal(c.ended, false, 'still connected');
      send(p, '/topic/fast', 'later');
      assert.equal((await c.expect('MESSAGE')).body.toString(), 'later');
      assert.equal(env.broker.stats().errors.SLOW_CONSUMER, undefined);
    },
  );
});

describe('queue consumers that do not read', () => {
  test('a queue consumer that never reads holds no more than highWaterMark (+ kernel buffers); the queue keeps the rest', async (t) => {
    const hwm = 64 * KB;
    const env = await setup(t, { highWaterMark: hwm });
    const stuck = await env.connect('1.2');
    await subscribe(stuck, '/queue/stuck', { id: 's' });
    stuck.socket.pause();
    const p = await env.connect('1.2');
    const size = 32 * KB;
    const bound = kernelBuffers() + hwm + 2 * size;
    const n = Math.ceil((2 * bound) / size);
    const body = Buffer.alloc(size, 'q');
    for (let i = 0; i < n; i++) send(p, '/queue/stuck', body, { seq: i });
    await sync(p);
    await sleep(100);
    const handedOut = n - env.broker.queueDepth('/queue/stuck');
    assert.ok(
      handedOut * size <= bound,
      `handed ${handedOut * size} bytes to a consumer that does not read (bound ${bound})`,
    );
    assert.ok(handedOut > 0);
    // it is not disconnected; when it reads, it gets everything, once, in order
    stuck.socket.resume();
    const ms = await messages(stuck, n, 10000);
    assert.deepEqual(
      ms.map((m) => m.header('seq')),
      seq('', n),
    );
    assert.equal(await stuck.quiet(100), true);
    assert.equal(env.broker.stats().errors.SLOW_CONSUMER, undefined);
  });

  test('a queue consumer that never reads: the others take the messages; each exactly once', async (t) => {
    const hwm = 64 * KB;
    const env = await setup(t, { highWaterMark: hwm, subscriberScheduler: 'round-robin' });
    const stuck = await env.connect('1.2');
    const reader = await env.connect('1.2');
    await subscribe(stuck, '/queue/share', { id: 'stuck' });
    await subscribe(reader, '/queue/share', { id: 'reader' });
    stuck.socket.pause();
    const p = await env.connect('1.2');
    const size = 32 * KB;
    const bound = kernelBuffers() + hwm + 2 * size;
    const n = Math.ceil((2 * bound) / size);
    const body = Buffer.alloc(size, 'r');
    for (let i = 0; i < n; i++) send(p, '/queue/share', body, { seq: i });
    await sync(p);
    const byReader = await drain(reader);
    const toStuck = n - byReader.length;
    assert.ok(
      toStuck * size <= bound,
      `stuck consumer got ${toStuck * size} bytes (bound ${bound})`,
    );
    assert.ok(byReader.length >= n / 2, `the reader took the rest: ${byReader.length} of ${n}`);
    assert.equal(env.broker.queueDepth('/queue/share'), 0);
    stuck.socket.resume();
    const byStuck = await drain(stuck);
    assert.equal(byStuck.length, toStuck);
    const all = [...byReader, ...byStuck].map((m) => Number(m.header('seq')));
    assert.deepEqual(
      all.sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i),
    );
    for (const part of [byReader, byStuck]) {
      const s = part.map((m) => Number(m.header('seq')));
      assert.ok(
        s.every((x, i) => i === 0 || x > s[i - 1]!),
        'each in producer order',
      );
    }
    assert.equal(env.broker.stats().errors.SLOW_CONSUMER, undefined);
  });

  test('a queue backlog is fully delivered with a highWaterMark below 16 KiB', {}, async (t) => {
    const env = await setup(t, { highWaterMark: 1000 });
    const p = await env.connect('1.2');
    for (let i = 0; i < 50; i++) send(p, '/queue/small-hwm', `${'x'.repeat(500)}${i}`);
    await sync(p);
    const c = await env.connect('1.2');
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/small-hwm\nreceipt:r\n\n\0');
    await receipt(c, 'r');
    const ms = await messages(c, 50, 2000);
    assert.equal(ms.at(-1)!.body.toString().slice(500), '49');
    assert.equal(env.broker.queueDepth('/queue/small-hwm'), 0);
  });
});
