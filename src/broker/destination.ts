import type { Connection } from './connection.js';
import { Deque } from './deque.js';
import type { Message } from './message.js';
import type { SubscriberScheduler } from './scheduler.js';
import type { Subscription } from './subscription.js';

/** CoilMQ's rule: names under /queue/ are queues; every other name is a topic. */
export function isQueueName(name: string): boolean {
  return name.startsWith('/queue/');
}

export interface QueueLimits {
  maxQueueMessagesInMemory: number;
  maxQueueBytesInMemory: number;
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
  /** Connections whose reading is paused because this queue is over its memory limit. */
  private readonly blocked = new Set<Connection>();
  private readonly scheduler: SubscriberScheduler;
  private readonly limits: QueueLimits;

  constructor(name: string, scheduler: SubscriberScheduler, limits: QueueLimits) {
    super(name);
    this.scheduler = scheduler;
    this.limits = limits;
  }

  get depth(): number {
    return this.messages.length;
  }

  get idle(): boolean {
    return this.messages.length === 0 && this.subscriptions.length === 0 && this.blocked.size === 0;
  }

  /** Past its memory limit: producers sending here must wait. */
  get full(): boolean {
    return (
      this.messages.length >= this.limits.maxQueueMessagesInMemory ||
      this.bytes >= this.limits.maxQueueBytesInMemory
    );
  }

  enqueue(message: Message): void {
    this.messages.push(message);
    this.bytes += message.size;
    this.dispatch();
  }

  /** Puts messages back at the head, in the order given (SB-07, A-04). */
  requeue(messages: readonly Message[]): void {
    for (let i = messages.length - 1; i >= 0; i--) {
      this.messages.unshift(messages[i]!);
      this.bytes += messages[i]!.size;
    }
    this.dispatch();
  }

  block(connection: Connection): void {
    this.blocked.add(connection);
  }

  unblockAll(): void {
    const conns = [...this.blocked];
    this.blocked.clear();
    for (const c of conns) c.unblock();
  }

  forget(connection: Connection): void {
    this.blocked.delete(connection);
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
          sub.connection.deliver(sub, message);
        }
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
    // Resume producers once the backlog is well below the limit, not at its edge.
    if (
      this.blocked.size > 0 &&
      this.messages.length < this.limits.maxQueueMessagesInMemory * 0.8 &&
      this.bytes < this.limits.maxQueueBytesInMemory * 0.8
    ) {
      this.unblockAll();
    }
  }
}

/** Broadcast: each message goes to every subscription present when it is sent. */
export class Topic extends BaseDestination {
  readonly kind = 'topic';

  get idle(): boolean {
    return this.subscriptions.length === 0;
  }

  publish(message: Message): void {
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      if (sub.active) sub.connection.deliverBroadcast(sub, message);
    }
  }
}

export type Destination = Queue | Topic;
