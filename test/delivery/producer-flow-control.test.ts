/**
 * Producer flow control (brief, "Flow"): a queue holding maxQueueMessagesInMemory
 * messages (or maxQueueBytesInMemory bytes) stops reading from the producers that send to
 * it: their SENDs (and receipts, R-03) wait; the queue stays bounded near the limit. Once
 * consumers bring it below 80 % the producers resume and every message arrives, once,
 * in order. Other connections are not held up.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
  bodies,
  frame,
  messages,
  receipt,
  send,
  seq,
  setup,
  sleep,
  subscribe,
  sync,
  until,
  type RawClient,
} from '../helpers/delivery.js';

/** Receipts that arrive until the client is quiet for `ms`. */
async function receiptsUntilQuiet(c: RawClient, ms = 200): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    try {
      const f = await c.next(ms);
      assert.equal(f.command, 'RECEIPT', `${f.command} ${f.header('message')}`);
      ids.push(f.header('receipt-id')!);
    } catch {
      return ids;
    }
  }
}

/** Writes n SENDs with receipts r<i> in one go. */
function burst(c: RawClient, dest: string, n: number, body = (i: number) => `m${i}`) {
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++)
    frames.push(frame('SEND', { destination: dest, receipt: `r${i}` }, body(i)));
  c.write(Buffer.concat(frames));
}

describe('producer flow control', () => {
  test('maxQueueMessagesInMemory: a producer with no consumer is paused near the limit, then resumes', async (t) => {
    const limit = 50;
    const env = await setup(t, { maxQueueMessagesInMemory: limit });
    const p = await env.connect('1.2');
    const n = 400;
    burst(p, '/queue/fc', n);
    const early = await receiptsUntilQuiet(p);
    const depth = env.broker.queueDepth('/queue/fc');
    assert.ok(depth <= limit, `queue depth ${depth} stays within ${limit}`);
    assert.ok(depth >= limit * 0.8, `queue depth ${depth} near the limit`);
    assert.deepEqual(early, seq('r', depth), 'a receipt for each SEND taken, in order; then none');
    await sleep(100);
    assert.equal(env.broker.queueDepth('/queue/fc'), depth, 'still paused');
    // a consumer drains it; the producer resumes; all arrive once, in order
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/fc', { id: 's' });
    const ms = await messages(c, n);
    assert.deepEqual(bodies(ms), seq('m', n));
    const late = await receiptsUntilQuiet(p);
    assert.deepEqual([...early, ...late], seq('r', n));
    assert.equal(await c.quiet(50), true);
    assert.equal(env.broker.queueDepth('/queue/fc'), 0);
  });

  test('maxQueueBytesInMemory: 10 KiB messages, 100 KiB limit -> about 10 held, then resume', async (t) => {
    const env = await setup(t, { maxQueueBytesInMemory: 100 * 1024 });
    const p = await env.connect('1.2');
    const n = 100;
    const big = 'b'.repeat(10 * 1024);
    burst(p, '/queue/fcb', n, (i) => `${i}:${big}`);
    const early = await receiptsUntilQuiet(p);
    const depth = env.broker.queueDepth('/queue/fcb');
    assert.ok(depth >= 8 && depth <= 11, `depth ${depth} bounded by bytes`);
    assert.equal(early.length, depth);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/fcb', { id: 's' });
    const ms = await messages(c, n);
    assert.deepEqual(
      ms.map((m) => m.body.toString().split(':')[0]),
      seq('', n),
    );
    assert.equal((await receiptsUntilQuiet(p)).length, n - depth);
  });

  test('while paused, other connections and other queues are not held up; a second producer to the full queue waits too', async (t) => {
    const limit = 20;
    const env = await setup(t, { maxQueueMessagesInMemory: limit });
    const p1 = await env.connect('1.2');
    burst(p1, '/queue/full', 100, (i) => `a${i}`);
    await until(() => env.broker.queueDepth('/queue/full') >= limit, 'queue full');
    await receiptsUntilQuiet(p1, 100);
    // another queue works normally for another producer and consumer
    const other = await env.connect('1.1');
    await subscribe(other, '/queue/free', { id: 'o' });
    const p2 = await env.connect('1.2');
    send(p2, '/queue/free', 'free');
    await sync(p2);
    assert.equal((await other.expect('MESSAGE')).body.toString(), 'free');
    // p2 now sends to the full queue: that SEND is taken, then p2 is paused as well
    p2.write(
      'SEND\ndestination:/queue/full\nreceipt:p2-0\n\nb0\0' +
        'SEND\ndestination:/queue/full\nreceipt:p2-1\n\nb1\0',
    );
    assert.equal((await p2.expect('RECEIPT')).header('receipt-id'), 'p2-0');
    assert.equal(await p2.quiet(150), true, 'no further receipt while the queue is full');
    assert.equal(env.broker.queueDepth('/queue/full'), limit + 1);
    // drain: every message from both producers exactly once, each in order
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/full', { id: 's' });
    const ms = await messages(c, 102);
    const a = bodies(ms).filter((b) => b.startsWith('a'));
    const b = bodies(ms).filter((x) => x.startsWith('b'));
    assert.deepEqual(a, seq('a', 100));
    assert.deepEqual(b, seq('b', 2));
    await receipt(p2, 'p2-1');
    assert.equal(await c.quiet(50), true);
    assert.equal(env.broker.stats().connections, 4, 'nobody was disconnected');
  });

  test('a slow acknowledging consumer drains a producer of 500 messages through a 20-message queue', async (t) => {
    const limit = 20;
    const env = await setup(t, { maxQueueMessagesInMemory: limit });
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/slowdrain', {
      id: 's',
      ack: 'client-individual',
      headers: { 'prefetch-count': 5 },
    });
    const p = await env.connect('1.2');
    const n = 500;
    burst(p, '/queue/slowdrain', n);
    let maxDepth = 0;
    for (let i = 0; i < n; i++) {
      const m = await c.expect('MESSAGE');
      assert.equal(m.body.toString(), `m${i}`);
      maxDepth = Math.max(maxDepth, env.broker.queueDepth('/queue/slowdrain'));
      c.write(ackFrame('1.2', m));
    }
    assert.ok(maxDepth <= limit, `depth stayed bounded (max ${maxDepth})`);
    assert.deepEqual(await receiptsUntilQuiet(p, 100), seq('r', n));
  });

  test('a blocked producer can still be closed; its paused SENDs are simply not processed', async (t) => {
    const env = await setup(t, { maxQueueMessagesInMemory: 10 });
    const p = await env.connect('1.2');
    burst(p, '/queue/gone', 50);
    const taken = (await receiptsUntilQuiet(p, 150)).length;
    p.destroy();
    await p.closed;
    await until(() => env.broker.stats().connections === 0, 'connection released');
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/gone', { id: 's' });
    const ms = await messages(c, taken);
    assert.deepEqual(bodies(ms), seq('m', taken));
    assert.equal(await c.quiet(100), true);
  });

  test('HB-04 a paused producer that keeps sending heart-beats is not timed out', {}, async (t) => {
    const env = await setup(t, { maxQueueMessagesInMemory: 10, heartbeatMinInterval: 50 });
    // the broker expects a beat every 100 ms (x 1.5 grace); the client beats every 40 ms
    const p = await env.connect('1.2', { 'heart-beat': '100,0' });
    const beat = setInterval(() => p.write('\n'), 40);
    t.after(() => clearInterval(beat));
    burst(p, '/queue/hb', 30);
    await sleep(600);
    assert.ok(
      p.frames.every((f) => f.command === 'RECEIPT'),
      `no ERROR: ${p.frames.map((f) => f.header('message')).join(' ')}`,
    );
    assert.equal(p.ended, false, 'still connected');
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/hb', { id: 's' });
    assert.deepEqual(bodies(await messages(c, 30)), seq('m', 30));
  });
});
