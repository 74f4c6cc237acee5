import { StompError } from '../errors.js';
import { Deque } from './deque.js';
import type { Message } from './message.js';
import type { SubscriberScheduler } from './scheduler.js';
import type { Subscription } from './subscription.js';

/** CoilMQ's rule: names under /queue/ are queues; every other name is a topic. */
export function isQueueName(name: string): boolean {
  return name.startsWith('/queue/');
}

/** What a queue needs of the store (see MessageStorage). */
export interface QueueStorage {
  /** Reads up to `limit` messages of a queue with seq > afterSeq back from the store. */
  page(queue: string, afterSeq: number, limit: number, done: (m: Message[] | Error) => void): void;
  /** A stored message was handed to a subscription. */
  delivered(message: Message, clientAck: boolean): void;
}

/** A producer waiting for a full queue to drain (producer flow control). */
export interface QueueWaiter {
  queueDrained(queue: Queue): void;
}

export interface QueueLimits {
  maxQueueMessagesInMemory: number;
  maxQueueBytesInMemory: number;
}

export interface TopicLimits {
  highWaterMark: number;
  slowConsumerMaxBytes: number;
  slowConsumerTimeout: number;
  maxUnackedPerSubscription: number;
}

abstract class BaseDestination {
  readonly name: string;
  /** Replaced, never mutated, so a delivery loop can run over it while subscriptions change. */
  subscriptions: readonly Subscription[] = [];

  constructor(name: string) {
    this.name = name;
  }

  addSubscription(sub: Subscription): void {
    this.subscriptions = [...this.subscriptions, sub];
  }

  removeSubscription(sub: Subscription): void {
    this.subscriptions = this.subscriptions.filter((s) => s !== sub);
  }
}

/** How long a queue waits before reading from the store again after a read failed. */
const PAGE_RETRY_MS = 1000;

/**
 * Point-to-point: each message goes to exactly one subscription and is kept until a
 * consumer takes it (and, for client acks, acknowledges it). FIFO, so each producer's
 * messages keep their order; returned messages go to the front.
 */
export class Queue extends BaseDestination {
  readonly kind = 'queue';
  private readonly messages = new Deque<Message>();
  private bytes = 0;
  private dispatching = false;
  private again = false;
  /** Producers whose reading is paused because this queue is over its memory limit. */
  private readonly waiters = new Set<QueueWaiter>();
  private readonly scheduler: SubscriberScheduler;
  private readonly limits: QueueLimits;
  private readonly storage: QueueStorage;
  /**
   * Messages kept only in the store, all after those in memory (their seq is above
   * lastSeqInMemory). A queue with a store holds at most its memory limit in memory and
   * pages the rest in as consumers take messages: a backlog does not have to fit in RAM.
   */
  private onDisk = 0;
  private lastSeqInMemory = 0;
  private paging = false;
  /** Messages ever left on disk by enqueue: tells a short page from a store that has no more. */
  private spilled = 0;
  /** A page-in that failed is tried again after PAGE_RETRY_MS. */
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    name: string,
    scheduler: SubscriberScheduler,
    limits: QueueLimits,
    storage: QueueStorage,
  ) {
    super(name);
    this.scheduler = scheduler;
    this.limits = limits;
    this.storage = storage;
  }

  get depth(): number {
    return this.messages.length + this.onDisk;
  }

  get inMemory(): number {
    return this.messages.length;
  }

  get idle(): boolean {
    return (
      this.depth === 0 && this.subscriptions.length === 0 && this.waiters.size === 0 && !this.paging
    );
  }

  /** Leaving new messages on disk: either it has some there already, or memory is full. */
  get spilling(): boolean {
    return this.onDisk > 0 || this.full;
  }

  /** After a restart: `count` messages of this queue are in the store. */
  restore(count: number): void {
    this.onDisk += count;
  }

  /** Past its memory limit: producers sending here must wait. */
  get full(): boolean {
    return (
      this.messages.length >= this.limits.maxQueueMessagesInMemory ||
      this.bytes >= this.limits.maxQueueBytesInMemory
    );
  }

  enqueue(message: Message): void {
    if (message.stored && this.spilling) {
      // It is in the store already; it will be paged in after those before it.
      this.onDisk++;
      this.spilled++;
      this.dispatch();
      return;
    }
    this.messages.push(message);
    this.bytes += message.size;
    if (message.seq > this.lastSeqInMemory) this.lastSeqInMemory = message.seq;
    this.dispatch();
  }

  /**
   * Puts messages back at the head, in the order given: unacknowledged messages of a
   * subscription that ended, or NACKed ones (README, "Behaviour worth knowing").
   */
  requeue(messages: readonly Message[]): void {
    for (let i = messages.length - 1; i >= 0; i--) {
      this.messages.unshift(messages[i]!);
      this.bytes += messages[i]!.size;
    }
    this.dispatch();
  }

  addWaiter(waiter: QueueWaiter): void {
    this.waiters.add(waiter);
  }

  removeWaiter(waiter: QueueWaiter): void {
    this.waiters.delete(waiter);
  }

  private releaseWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w.queueDrained(this);
  }

  private get pageSize(): number {
    return Math.max(1, Math.min(1000, this.limits.maxQueueMessagesInMemory >> 1));
  }

  private pageIn(): void {
    if (this.stopped) return;
    this.paging = true;
    const want = this.pageSize;
    const spilledBefore = this.spilled;
    this.storage.page(this.name, this.lastSeqInMemory, want, (result) => {
      this.paging = false;
      if (result instanceof Error) {
        // The messages stay on disk. Try again soon: a consumer may be waiting with nothing
        // else coming (no new message, no ack) that would make the queue dispatch again.
        this.retry ??= setTimeout(() => {
          this.retry = undefined;
          this.dispatch();
        }, PAGE_RETRY_MS);
        this.retry.unref();
        return;
      }
      for (const m of result) {
        this.messages.push(m);
        this.bytes += m.size;
        this.lastSeqInMemory = m.seq;
      }
      this.onDisk = Math.max(0, this.onDisk - result.length);
      // A short page while nothing new was left on disk: the store has no more.
      if (result.length < want && this.spilled === spilledBefore) this.onDisk = 0;
      if (result.length > 0 || this.onDisk > 0) this.dispatch();
    });
  }

  /** The broker is closing: no more reads from the store. */
  stop(): void {
    clearTimeout(this.retry);
    this.stopped = true;
  }

  /** Hands messages to ready subscriptions until there are no messages or no takers. */
  dispatch(): void {
    // A delivery can end a connection, which returns messages here: loop, don't recurse.
    if (this.dispatching) {
      this.again = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.again = false;
        while (this.messages.length > 0) {
          const sub = this.scheduler.choose(this.subscriptions);
          if (sub === undefined) break;
          const message = this.messages.shift()!;
          this.bytes -= message.size;
          // Counted, so that a redelivery says so (README, "Behaviour worth knowing").
          sub.deliver(message, ++message.deliveries);
          if (message.stored) this.storage.delivered(message, sub.clientAck);
        }
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
    // Page in before memory runs dry, so consumers do not wait on the disk.
    if (this.onDisk > 0 && !this.paging && this.messages.length < this.pageSize) this.pageIn();
    // Resume producers once the backlog is well below the limit, not at its edge.
    if (
      this.waiters.size > 0 &&
      this.messages.length < this.limits.maxQueueMessagesInMemory * 0.8 &&
      this.bytes < this.limits.maxQueueBytesInMemory * 0.8
    ) {
      this.releaseWaiters();
    }
  }
}

/**
 * Broadcast: each message goes to every subscription present when it is sent. There is
 * nowhere to keep a topic message, so it is written at once; a subscriber that cannot keep
 * up (too many unsent bytes, a full send buffer that does not drain in time, or too many
 * unacknowledged messages) is disconnected as a slow consumer.
 */
export class Topic extends BaseDestination {
  readonly kind = 'topic';
  private readonly limits: TopicLimits;

  constructor(name: string, limits: TopicLimits) {
    super(name);
    this.limits = limits;
  }

  get idle(): boolean {
    return this.subscriptions.length === 0;
  }

  publish(message: Message): void {
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      if (sub.isActive) this.offer(sub, message);
    }
  }

  private offer(sub: Subscription, message: Message): void {
    const o = this.limits;
    const consumer = sub.consumer;
    const unsent = consumer.unsentBytes;
    if (unsent > o.slowConsumerMaxBytes) {
      consumer.fail(
        new StompError('SLOW_CONSUMER', `${unsent} bytes unsent to subscription ${sub.id}`),
      );
      return;
    }
    if (sub.full || sub.heldBackCount > 0) {
      // A client-ack subscription that named a prefetch-count gets no more than that many
      // unacknowledged messages at once, as on a queue; the rest wait, within the same bound.
      if (sub.heldBackCount >= o.maxUnackedPerSubscription) {
        consumer.fail(
          new StompError(
            'SLOW_CONSUMER',
            `${sub.heldBackCount} messages held back for subscription ${sub.id}`,
          ),
        );
        return;
      }
      sub.holdBack(message);
      return;
    }
    if (sub.clientAck && sub.unackedCount >= o.maxUnackedPerSubscription) {
      consumer.fail(
        new StompError(
          'SLOW_CONSUMER',
          `${sub.unackedCount} unacknowledged messages on subscription ${sub.id}`,
        ),
      );
      return;
    }
    sub.deliver(message, 1);
    if (unsent > o.highWaterMark && o.slowConsumerTimeout > 0) {
      consumer.expectDrainWithin(o.slowConsumerTimeout);
    }
  }
}

export type Destination = Queue | Topic;
