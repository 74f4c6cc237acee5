/**
 * Concurrent mixed traffic: 4 producers (1.0, 1.1, 1.2, 1.2) each send 1,000 messages
 * spread over 4 queues and 2 topics, at the same time, while 5 consumer connections of
 * every version hold 13 subscriptions in every ack mode (several per connection, some
 * competing on a queue). Every subscription sees each producer's messages in order
 * (per-producer FIFO); each queue message reaches exactly one subscription; each topic
 * subscription gets every message sent to its topic (SB-04..SB-06, A-01..A-03).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackFrame,
  frame,
  setup,
  subscribe,
  sync,
  type Frame,
  type RawClient,
  type StompVersion,
  type SubscribeOptions,
} from '../helpers/delivery.js';

type Ack = NonNullable<SubscribeOptions['ack']>;

const QUEUES = ['/queue/mx0', '/queue/mx1', '/queue/mx2', '/queue/mx3'];
const TOPICS = ['/topic/mx0', '/topic/mx1'];
const DESTS = [...QUEUES, ...TOPICS];
const PER_PRODUCER = 1000;
const PRODUCERS: StompVersion[] = ['1.0', '1.1', '1.2', '1.2'];

/** Consumer connections: version and subscriptions [destination, ack mode]. */
const CONSUMERS: Array<[StompVersion, Array<[string, Ack]>]> = [
  [
    '1.2',
    [
      ['/queue/mx0', 'auto'],
      ['/topic/mx0', 'auto'],
    ],
  ],
  [
    '1.1',
    [
      ['/queue/mx0', 'client-individual'],
      ['/queue/mx1', 'client'],
      ['/topic/mx1', 'auto'],
    ],
  ],
  [
    '1.0',
    [
      ['/queue/mx1', 'auto'],
      ['/queue/mx2', 'client'],
      ['/topic/mx0', 'client'],
    ],
  ],
  [
    '1.2',
    [
      ['/queue/mx2', 'client-individual'],
      ['/queue/mx3', 'auto'],
      ['/topic/mx0', 'auto'],
      ['/topic/mx1', 'client'],
    ],
  ],
  [
    '1.2',
    [
      ['/queue/mx3', 'client'],
      ['/topic/mx1', 'client-individual'],
    ],
  ],
];

/** Destination of producer k's i-th message. */
const destOf = (k: number, i: number): string => DESTS[(i * 7 + k) % DESTS.length]!;

interface Sub {
  id: string;
  dest: string;
  ack: Ack;
  version: StompVersion;
  /** per producer, the seqs received in order */
  seen: number[][];
  count: number;
}

describe('mixed traffic', () => {
  test('4 producers x 1,000 messages over 4 queues and 2 topics; per-producer order, queue messages exactly once', async (t) => {
    const env = await setup(t);
    const subs = new Map<string, Sub>();
    const consumers: Array<{ c: RawClient; version: StompVersion }> = [];
    for (const [ci, [version, list]] of CONSUMERS.entries()) {
      const c = await env.connect(version);
      for (const [si, [dest, ack]] of list.entries()) {
        const id = `c${ci}s${si}`;
        await subscribe(c, dest, { id, ack, headers: { 'prefetch-count': 50 } });
        subs.set(id, { id, dest, ack, version, seen: PRODUCERS.map(() => []), count: 0 });
      }
      consumers.push({ c, version });
    }

    // what is expected: per destination, per producer, the seqs in order
    const expected = new Map<string, number[][]>(DESTS.map((d) => [d, PRODUCERS.map(() => [])]));
    for (let k = 0; k < PRODUCERS.length; k++) {
      for (let i = 0; i < PER_PRODUCER; i++) expected.get(destOf(k, i))![k]!.push(i);
    }
    let total = 0;
    for (const d of QUEUES) total += expected.get(d)!.reduce((n, a) => n + a.length, 0);
    for (const s of subs.values()) {
      if (TOPICS.includes(s.dest)) total += expected.get(s.dest)!.reduce((n, a) => n + a.length, 0);
    }

    let received = 0;
    let done = false;
    const deadline = Date.now() + 12000;
    const consume = async ({ c, version }: { c: RawClient; version: StompVersion }) => {
      let n = 0;
      while (!done) {
        if (Date.now() > deadline) throw new Error(`timed out: ${received} of ${total}`);
        let f: Frame;
        try {
          f = await c.next(100);
        } catch {
          continue;
        }
        assert.equal(f.command, 'MESSAGE', `${f.command} ${f.header('message')}`);
        const s = subs.get(f.header('subscription')!)!;
        assert.ok(s, 'MESSAGE for a known subscription');
        assert.equal(f.header('destination'), s.dest);
        const k = Number(f.header('producer'));
        const i = Number(f.header('seq'));
        assert.equal(f.body.toString(), `p${k}-${i}-${'x'.repeat(i % 97)}`);
        s.seen[k]!.push(i);
        s.count++;
        if (s.ack === 'client-individual' || (s.ack === 'client' && ++n % 5 === 0)) {
          c.write(ackFrame(version, f));
        }
        if (++received === total) done = true;
      }
    };
    const consuming = Promise.all(consumers.map(consume));

    const producers = await Promise.all(PRODUCERS.map((v) => env.connect(v)));
    await Promise.all(
      producers.map(async (p, k) => {
        // in chunks of 100 frames, so producers interleave
        for (let start = 0; start < PER_PRODUCER; start += 100) {
          const frames: Buffer[] = [];
          for (let i = start; i < start + 100; i++) {
            frames.push(
              frame(
                'SEND',
                { destination: destOf(k, i), producer: k, seq: i },
                `p${k}-${i}-${'x'.repeat(i % 97)}`,
              ),
            );
          }
          p.write(Buffer.concat(frames));
          await new Promise((r) => setImmediate(r));
        }
        await sync(p);
      }),
    );
    await consuming;
    assert.equal(received, total);

    // per-producer order on every subscription
    for (const s of subs.values()) {
      for (const [k, seqs] of s.seen.entries()) {
        for (let j = 1; j < seqs.length; j++) {
          assert.ok(seqs[j]! > seqs[j - 1]!, `${s.id} (${s.dest}) producer ${k} out of order`);
        }
      }
    }
    // topics: every subscription got everything for its topic
    for (const s of subs.values()) {
      if (!TOPICS.includes(s.dest)) continue;
      assert.deepEqual(s.seen, expected.get(s.dest), `${s.id} got all of ${s.dest}`);
    }
    // queues: the union over the queue's subscriptions is every message, exactly once
    for (const q of QUEUES) {
      const onQ = [...subs.values()].filter((s) => s.dest === q);
      assert.ok(onQ.length >= 1);
      for (let k = 0; k < PRODUCERS.length; k++) {
        const all = onQ.flatMap((s) => s.seen[k]!).sort((a, b) => a - b);
        assert.deepEqual(all, expected.get(q)![k], `${q} producer ${k}: each exactly once`);
      }
      assert.equal(env.broker.queueDepth(q), 0);
    }
    for (const { c } of consumers) assert.equal(await c.quiet(50), true, 'nothing extra');
  });
});
