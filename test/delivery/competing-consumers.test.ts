/**
 * Competing consumers on one queue: each of N messages is delivered exactly once overall
 * (across consumers of every version and ack mode), and each consumer sees a subsequence
 * of the producer's order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
  send,
  setup,
  subscribe,
  type Frame,
  type RawClient,
  type StompVersion,
  type SubscribeOptions,
} from '../helpers/delivery.js';
import type { BrokerOptions } from '../../src/index.js';

interface Consumer {
  c: RawClient;
  version: StompVersion;
  ack: NonNullable<SubscribeOptions['ack']>;
  got: number[];
}

/** Reads until `total` messages were seen by all consumers together; acks as needed. */
async function consume(consumers: Consumer[], total: number, seen: Set<number>): Promise<void> {
  await Promise.all(
    consumers.map(async (k) => {
      while (seen.size < total) {
        let f: Frame;
        try {
          f = await k.c.next(200);
        } catch {
          continue;
        }
        assert.equal(f.command, 'MESSAGE', `${f.command} ${f.header('message')}`);
        const i = Number(f.body.toString());
        assert.ok(!seen.has(i), `message ${i} delivered twice`);
        seen.add(i);
        k.got.push(i);
        if (k.ack !== 'auto') k.c.write(ackFrame(k.version, f));
      }
    }),
  );
}

async function run(options: BrokerOptions, t: Parameters<typeof setup>[0]) {
  const env = await setup(t, options);
  const specs: Array<[StompVersion, Consumer['ack']]> = [
    ['1.2', 'auto'],
    ['1.1', 'client'],
    ['1.2', 'client-individual'],
    ['1.0', 'client'],
    ['1.0', 'auto'],
  ];
  const consumers: Consumer[] = [];
  for (const [version, ack] of specs) {
    const c = await env.connect(version);
    await subscribe(c, '/queue/work', { id: 'w', ack });
    consumers.push({ c, version, ack, got: [] });
  }
  const p = await env.connect('1.2');
  const n = 1000;
  for (let i = 0; i < n; i++) send(p, '/queue/work', String(i));
  const seen = new Set<number>();
  await consume(consumers, n, seen);
  assert.equal(seen.size, n);
  for (const k of consumers) {
    for (let j = 1; j < k.got.length; j++) {
      assert.ok(k.got[j]! > k.got[j - 1]!, `consumer sees producer order`);
    }
  }
  for (const k of consumers) assert.equal(await k.c.quiet(50), true, 'no extra message');
  assert.equal(env.broker.queueDepth('/queue/work'), 0);
  return consumers;
}

describe('competing consumers', () => {
  test('5 consumers (1.0/1.1/1.2, auto/client/client-individual): each of 1,000 messages exactly once', async (t) => {
    await run({}, t);
  });

  test('round-robin: each of 1,000 messages exactly once and every consumer gets some', async (t) => {
    const consumers = await run({ subscriberScheduler: 'round-robin' }, t);
    for (const k of consumers) assert.ok(k.got.length > 0);
  });

  test('random: each of 1,000 messages exactly once', async (t) => {
    await run({ subscriberScheduler: 'random' }, t);
  });

  test('a consumer joining and one leaving mid-stream: still each message exactly once', async (t) => {
    const env = await setup(t, { subscriberScheduler: 'round-robin' });
    const a = await env.connect('1.2');
    await subscribe(a, '/queue/churn', { id: 'a', ack: 'client-individual' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 200; i++) send(p, '/queue/churn', String(i));
    const seen = new Set<number>();
    const acked = new Set<number>();
    // a takes 50 and acks 40 of them, then vanishes: 10 must come back.
    for (let i = 0; i < 50; i++) {
      const f = await a.expect('MESSAGE');
      const k = Number(f.body.toString());
      seen.add(k);
      if (i < 40) {
        a.write(ackFrame('1.2', f));
        acked.add(k);
      }
    }
    const b = await env.connect('1.2');
    await subscribe(b, '/queue/churn', { id: 'b', ack: 'client' });
    for (let i = 200; i < 400; i++) send(p, '/queue/churn', String(i));
    a.destroy();
    const got = new Set<number>();
    for (;;) {
      let f: Frame;
      try {
        f = await b.next(300);
      } catch {
        break;
      }
      const k = Number(f.body.toString());
      assert.ok(!acked.has(k), `acked message ${k} redelivered`);
      assert.ok(!got.has(k), `${k} twice to b`);
      got.add(k);
      b.write(ackFrame('1.2', f));
    }
    // b has everything a did not ack.
    const expected = new Set<number>();
    for (let i = 0; i < 400; i++) if (!acked.has(i)) expected.add(i);
    assert.deepEqual(
      [...got].sort((x, y) => x - y),
      [...expected].sort((x, y) => x - y),
    );
  });
});
