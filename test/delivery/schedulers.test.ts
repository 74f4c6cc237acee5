/**
 * Subscriber schedulers (who of a queue's ready subscribers gets the next message):
 * round-robin spreads evenly; favor-reliable (the default) prefers a client-ack
 * subscriber over an auto one while it has prefetch room; random still delivers each
 * message once. The queue scheduler (round-robin) does not lose or duplicate messages.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodies,
  messages,
  send,
  setup,
  subscribe,
  sync,
  type Frame,
  type RawClient,
} from '../helpers/delivery.js';

/** Every frame that arrives until the client has been quiet for 200 ms. */
async function drain(c: RawClient): Promise<Frame[]> {
  const out: Frame[] = [];
  for (;;) {
    try {
      out.push(await c.next(200));
    } catch {
      return out;
    }
  }
}

describe('subscriber schedulers', () => {
  test('round-robin: 300 messages over 3 consumers, exactly 100 each, in rotation', async (t) => {
    const env = await setup(t, { subscriberScheduler: 'round-robin' });
    const cs = [await env.connect('1.2'), await env.connect('1.1'), await env.connect('1.0')];
    for (const [i, c] of cs.entries()) await subscribe(c, '/queue/rr', { id: `c${i}` });
    const p = await env.connect('1.2');
    for (let i = 0; i < 300; i++) send(p, '/queue/rr', String(i));
    const got = await Promise.all(cs.map((c) => messages(c, 100)));
    for (const c of cs) assert.equal(await c.quiet(50), true, 'no more than 100 each');
    // rotation: consumer k gets every third message, all with the same residue
    for (const ms of got) {
      const nums = bodies(ms).map(Number);
      const r = nums[0]! % 3;
      assert.ok(
        nums.every((n, j) => n === nums[0]! + 3 * j && n % 3 === r),
        'every third',
      );
    }
    const all = got.flatMap((ms) => bodies(ms).map(Number)).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 300 }, (_, i) => i),
    );
  });

  test('round-robin skips a consumer with no prefetch room', async (t) => {
    const env = await setup(t, { subscriberScheduler: 'round-robin' });
    const full = await env.connect('1.2');
    await subscribe(full, '/queue/rr2', {
      id: 'f',
      ack: 'client',
      headers: { 'prefetch-count': 2 },
    });
    const a = await env.connect('1.2');
    const b = await env.connect('1.2');
    await subscribe(a, '/queue/rr2', { id: 'a' });
    await subscribe(b, '/queue/rr2', { id: 'b' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 62; i++) send(p, '/queue/rr2', String(i));
    await sync(p);
    assert.equal((await messages(full, 2)).length, 2);
    assert.equal(await full.quiet(50), true);
    assert.equal((await messages(a, 30)).length, 30);
    assert.equal((await messages(b, 30)).length, 30);
    assert.equal(await a.quiet(30), true);
    assert.equal(await b.quiet(0), true);
  });

  test('favor-reliable (default): a client-ack subscriber gets every message over an auto one', async (t) => {
    const env = await setup(t);
    const auto = await env.connect('1.2');
    const reliable = await env.connect('1.2');
    await subscribe(auto, '/queue/fr', { id: 'auto' });
    await subscribe(reliable, '/queue/fr', {
      id: 'rel',
      ack: 'client-individual',
      headers: { 'prefetch-count': 500 },
    });
    const p = await env.connect('1.2');
    for (let i = 0; i < 200; i++) send(p, '/queue/fr', String(i));
    await sync(p);
    const ms = await messages(reliable, 200);
    assert.deepEqual(
      bodies(ms).map(Number),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.equal(await auto.quiet(50), true, 'the auto subscriber got nothing');
  });

  test('favor-reliable: once the client-ack subscriber is full, the auto one gets the rest', async (t) => {
    const env = await setup(t, { subscriberScheduler: 'favor-reliable' });
    const auto = await env.connect('1.2');
    const reliable = await env.connect('1.2');
    await subscribe(reliable, '/queue/fr2', {
      id: 'rel',
      ack: 'client',
      headers: { 'prefetch-count': 5 },
    });
    await subscribe(auto, '/queue/fr2', { id: 'auto' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 50; i++) send(p, '/queue/fr2', String(i));
    await sync(p);
    const rel = await messages(reliable, 5);
    assert.deepEqual(bodies(rel), ['0', '1', '2', '3', '4']);
    const rest = await messages(auto, 45);
    assert.equal(rest[0]!.body.toString(), '5');
    assert.equal(await reliable.quiet(30), true);
    // once the reliable one acks, it is preferred again
    reliable.write(`ACK\nid:${rel[4]!.header('ack')}\n\n\0`);
    await sync(reliable);
    for (let i = 50; i < 55; i++) send(p, '/queue/fr2', String(i));
    assert.deepEqual(bodies(await messages(reliable, 5)), ['50', '51', '52', '53', '54']);
    assert.equal(await auto.quiet(50), true);
  });

  test('random: each of 300 messages to exactly one of 3 consumers, each gets some', async (t) => {
    const env = await setup(t, { subscriberScheduler: 'random' });
    const cs = await Promise.all([0, 1, 2].map(() => env.connect('1.2')));
    for (const [i, c] of cs.entries()) await subscribe(c, '/queue/rand', { id: `c${i}` });
    const p = await env.connect('1.2');
    for (let i = 0; i < 300; i++) send(p, '/queue/rand', String(i));
    await sync(p);
    // every message has been handed out once the producer's receipt is back
    const got = await Promise.all(cs.map(drain));
    for (const ms of got) assert.ok(ms.every((f) => f.command === 'MESSAGE'));
    const all = got.flatMap((ms) => bodies(ms).map(Number)).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 300 }, (_, i) => i),
    );
    for (const ms of got) assert.ok(ms.length > 0, 'every consumer gets some');
  });

  test('queueScheduler round-robin: one consumer of 3 queues gets all of each, in order', async (t) => {
    const env = await setup(t, { queueScheduler: 'round-robin', highWaterMark: 64 * 1024 });
    const c = await env.connect('1.2');
    const p = await env.connect('1.2');
    const body = 'x'.repeat(4096);
    for (let i = 0; i < 100; i++) {
      for (const q of ['a', 'b', 'c']) send(p, `/queue/qs-${q}`, `${q}${i}:${body}`);
    }
    await sync(p);
    for (const q of ['a', 'b', 'c']) await subscribe(c, `/queue/qs-${q}`, { id: q });
    const ms = await messages(c, 300);
    const next: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (const m of ms) {
      const s = m.body.toString();
      const q = s[0]!;
      assert.equal(Number(s.slice(1, s.indexOf(':'))), next[q], `queue ${q} in order`);
      next[q]!++;
    }
    assert.deepEqual(next, { a: 100, b: 100, c: 100 });
  });
});
