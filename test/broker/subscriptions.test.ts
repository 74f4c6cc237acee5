/**
 * The small owners of a session's delivery state, tested directly: Subscription (its
 * unacknowledged deliveries, in-flight count and transaction holds) and SubscriptionList
 * (subscriptions by id, deliveries by `ack` id, and how ACK/NACK find them per version).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StompError } from '../../src/errors.js';
import { Frame } from '../../src/protocol/index.js';
import { Queue, Topic } from '../../src/broker/destination.js';
import { Message } from '../../src/broker/message.js';
import { SubscriptionList } from '../../src/broker/subscription-list.js';
import { Subscription, type AckMode, type Consumer } from '../../src/broker/subscription.js';

const LIMITS = {
  highWaterMark: 1 << 20,
  slowConsumerMaxBytes: 1 << 24,
  slowConsumerTimeout: 0,
  maxUnackedPerSubscription: 1000,
};

/** A consumer that records what it is asked to write. */
class RecordingConsumer implements Consumer {
  canTakeMessages = true;
  unsentBytes = 0;
  readonly written: Array<{ sub: string; id: string; ackId: string | undefined; n: number }> = [];
  readonly failures: StompError[] = [];

  writeMessage(sub: Subscription, m: Message, ackId: string | undefined, n: number): void {
    this.written.push({ sub: sub.id, id: m.id, ackId, n });
  }

  fail(error: StompError): void {
    this.failures.push(error);
  }

  expectDrainWithin(): void {}
}

let seq = 0;
function message(): Message {
  seq++;
  return new Message(seq, `m-${seq}`, '/topic/t', ['destination', '/topic/t'], Buffer.from('x'));
}

function setup(ackMode: AckMode = 'client-individual', prefetch = 10) {
  const consumer = new RecordingConsumer();
  const list = new SubscriptionList(consumer);
  const dest = new Topic('/topic/t', LIMITS);
  const add = (id: string, mode = ackMode, pf = prefetch): Subscription => {
    const sub = new Subscription(list, id, true, dest, mode, pf);
    list.add(sub);
    return sub;
  };
  return { consumer, list, add, sub: add('s1') };
}

describe('Subscription', () => {
  test('a client-ack delivery is tracked under a new ack id, and counts against the prefetch', () => {
    const { consumer, sub } = setup('client-individual', 2);
    assert.equal(sub.ready, true);
    sub.deliver(message(), 1);
    sub.deliver(message(), 1);
    assert.deepEqual(
      consumer.written.map((w) => w.ackId),
      ['1', '2'],
    );
    assert.equal(sub.unackedCount, 2);
    assert.equal(sub.inFlightCount, 2);
    assert.equal(sub.ready, false, 'prefetch 2 reached');
  });

  test('an auto-ack delivery carries no ack id and is not tracked', () => {
    const { consumer, sub } = setup('auto', Infinity);
    sub.deliver(message(), 1);
    assert.equal(consumer.written[0]!.ackId, undefined);
    assert.equal(sub.unackedCount, 0);
  });

  test('ready also needs the consumer able to take messages', () => {
    const { consumer, sub } = setup();
    consumer.canTakeMessages = false;
    assert.equal(sub.ready, false);
  });

  test('client mode: an ACK settles every earlier delivery of the subscription', () => {
    const { list, sub } = setup('client');
    const ds = [1, 2, 3].map(() => list.track(sub, message()));
    assert.deepEqual(sub.acknowledgedBy(ds[1]!), [ds[0], ds[1]]);
  });

  test('client-individual mode: an ACK settles its delivery alone', () => {
    const { list, sub } = setup('client-individual');
    const ds = [1, 2, 3].map(() => list.track(sub, message()));
    assert.deepEqual(sub.acknowledgedBy(ds[1]!), [ds[1]]);
  });

  test('a hold (ACK in an open transaction) frees a prefetch slot once; unhold takes it back', () => {
    const { list, sub } = setup('client-individual', 1);
    const d = list.track(sub, message());
    assert.equal(sub.ready, false);
    assert.equal(sub.hold(d), true);
    assert.equal(sub.hold(d), false, 'held already');
    assert.equal(sub.inFlightCount, 0);
    assert.equal(sub.ready, true);
    sub.unhold(d);
    sub.unhold(d);
    assert.equal(sub.inFlightCount, 1, 'unhold twice counts once');
  });

  test('untrack of a held delivery does not count it out of flight twice', () => {
    const { list, sub } = setup();
    const d = list.track(sub, message());
    sub.hold(d);
    list.untrack(d);
    assert.equal(sub.inFlightCount, 0);
    assert.equal(sub.unackedCount, 0);
  });

  test('end() returns the unacknowledged messages in delivery order and takes no more', () => {
    const { list, sub } = setup();
    const ms = [message(), message(), message()];
    for (const m of ms) list.track(sub, m);
    list.untrack(list.find(Frame.of('ACK', { id: '2' }), '1.2'));
    assert.deepEqual(
      sub.end().map((m) => m.id),
      [ms[0]!.id, ms[2]!.id],
    );
    assert.equal(sub.isActive, false);
    assert.equal(sub.ready, false);
    assert.equal(sub.unackedCount, 0);
  });
});

describe('SubscriptionList', () => {
  test('ack ids are unique across the subscriptions of a session', () => {
    const { list, add, sub } = setup();
    const other = add('s2');
    const a = list.track(sub, message());
    const b = list.track(other, message());
    assert.notEqual(a.ackId, b.ackId);
    assert.match(a.ackId, /^[0-9]+$/, 'no character that needs escaping');
  });

  test('1.2 finds by id; an unknown id is UNKNOWN_MESSAGE, a missing one MISSING_HEADER', () => {
    const { list, sub } = setup();
    const d = list.track(sub, message());
    assert.equal(list.find(Frame.of('ACK', { id: d.ackId }), '1.2'), d);
    assert.throws(() => list.find(Frame.of('ACK', { id: '99' }), '1.2'), {
      code: 'UNKNOWN_MESSAGE',
    });
    assert.throws(() => list.find(Frame.of('ACK', { 'message-id': d.message.id }), '1.2'), {
      code: 'MISSING_HEADER',
    });
  });

  test('1.1 finds by message-id in the named subscription; subscription is required', () => {
    const { list, add, sub } = setup();
    const other = add('s2');
    const m = message();
    const d = list.track(sub, m);
    assert.equal(list.find(Frame.of('ACK', { 'message-id': m.id, subscription: 's1' }), '1.1'), d);
    // A topic message may be out to several subscriptions of a session: the right one, only.
    assert.throws(
      () => list.find(Frame.of('ACK', { 'message-id': m.id, subscription: other.id }), '1.1'),
      { code: 'UNKNOWN_MESSAGE' },
    );
    assert.throws(
      () => list.find(Frame.of('ACK', { 'message-id': 'nope', subscription: 's1' }), '1.1'),
      { code: 'UNKNOWN_MESSAGE' },
    );
    assert.throws(() => list.find(Frame.of('ACK', { 'message-id': m.id }), '1.1'), {
      code: 'MISSING_HEADER',
    });
  });

  test('1.1 naming the wrong subscription still finds a queue message by its id (as RabbitMQ)', () => {
    const consumer = new RecordingConsumer();
    const list = new SubscriptionList(consumer);
    const queue = new Queue(
      '/queue/q',
      { choose: () => undefined },
      { maxQueueMessagesInMemory: 10, maxQueueBytesInMemory: 1 << 20 },
      { page: () => {}, delivered: () => {} },
    );
    const sub = new Subscription(list, 'q', true, queue, 'client', 10);
    list.add(sub);
    const m = message();
    const d = list.track(sub, m);
    assert.equal(
      list.find(Frame.of('ACK', { 'message-id': m.id, subscription: 'wrong' }), '1.1'),
      d,
    );
  });

  test('1.0 finds by message-id across every subscription', () => {
    const { list, add } = setup();
    const other = add('s2');
    const m = message();
    const d = list.track(other, m);
    assert.equal(list.find(Frame.of('ACK', { 'message-id': m.id }), '1.0'), d);
  });

  test('a settled delivery is no longer pending, nor found', () => {
    const { list, sub } = setup();
    const d = list.track(sub, message());
    assert.equal(list.isPending(d), true);
    list.untrack(d);
    assert.equal(list.isPending(d), false);
    assert.throws(() => list.find(Frame.of('ACK', { id: d.ackId }), '1.2'), {
      code: 'UNKNOWN_MESSAGE',
    });
  });

  test('remove() ends one subscription and forgets its ack ids; the others keep theirs', () => {
    const { list, add, sub } = setup();
    const other = add('s2');
    const d1 = list.track(sub, message());
    const d2 = list.track(other, message());
    assert.equal(list.remove(sub).length, 1);
    assert.equal(list.has('s1'), false);
    assert.equal(list.isPending(d1), false);
    assert.equal(list.isPending(d2), true);
  });

  test('removeAll() returns the unacknowledged deliveries in the order the session got them', () => {
    const { list, add, sub } = setup();
    const other = add('s2');
    const order = [
      list.track(sub, message()),
      list.track(other, message()),
      list.track(sub, message()),
    ];
    const { subscriptions, unacked } = list.removeAll();
    assert.deepEqual(unacked, order);
    assert.equal(subscriptions.length, 2);
    assert.equal(list.size, 0);
    assert.ok(subscriptions.every((s) => !s.isActive));
  });

  test('byDestination finds a 1.0 subscription by its destination', () => {
    const { list, sub } = setup();
    assert.equal(list.byDestination('/topic/t'), sub);
    assert.equal(list.byDestination('/topic/other'), undefined);
  });
});

describe('Topic offers to a subscription', () => {
  test('a subscriber with too many unsent bytes is failed as a slow consumer', () => {
    const { consumer, sub } = setup('auto', Infinity);
    const topic = sub.destination as Topic;
    topic.addSubscription(sub);
    consumer.unsentBytes = LIMITS.slowConsumerMaxBytes + 1;
    topic.publish(message());
    assert.equal(consumer.written.length, 0);
    assert.equal(consumer.failures[0]?.code, 'SLOW_CONSUMER');
  });
});
