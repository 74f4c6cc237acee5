import type { QueueSchedulerName, SubscriberSchedulerName } from './options.js';
import type { Subscription } from './subscription.js';

/** Picks which ready subscription of a queue gets the next message. */
export interface SubscriberScheduler {
  choose(subscriptions: readonly Subscription[]): Subscription | undefined;
}

/** Orders the queues a connection consumes from when it can take messages again. */
export interface QueueScheduler {
  order<T>(queues: T[]): T[];
}

function randomFrom(
  subs: readonly Subscription[],
  onlyClientAck: boolean,
): Subscription | undefined {
  const n = subs.length;
  if (n === 0) return undefined;
  // Start at a random place and take the first ready one: one pass, no allocation.
  const start = (Math.random() * n) | 0;
  for (let i = 0; i < n; i++) {
    const s = subs[(start + i) % n]!;
    if (s.ready && (!onlyClientAck || s.clientAck)) return s;
  }
  return undefined;
}

/** CoilMQ's default: a subscriber that acknowledges (so nothing is lost) first, else any. */
export class FavorReliableScheduler implements SubscriberScheduler {
  choose(subs: readonly Subscription[]): Subscription | undefined {
    return randomFrom(subs, true) ?? randomFrom(subs, false);
  }
}

export class RandomScheduler implements SubscriberScheduler {
  choose(subs: readonly Subscription[]): Subscription | undefined {
    return randomFrom(subs, false);
  }
}

export class RoundRobinScheduler implements SubscriberScheduler {
  private next = 0;

  choose(subs: readonly Subscription[]): Subscription | undefined {
    const n = subs.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const s = subs[idx]!;
      if (s.ready) {
        this.next = idx + 1;
        return s;
      }
    }
    return undefined;
  }
}

export function subscriberScheduler(name: SubscriberSchedulerName): SubscriberScheduler {
  if (name === 'random') return new RandomScheduler();
  if (name === 'round-robin') return new RoundRobinScheduler();
  return new FavorReliableScheduler();
}

export class RandomQueueScheduler implements QueueScheduler {
  order<T>(queues: T[]): T[] {
    for (let i = queues.length - 1; i > 0; i--) {
      const j = (Math.random() * (i + 1)) | 0;
      const t = queues[i]!;
      queues[i] = queues[j]!;
      queues[j] = t;
    }
    return queues;
  }
}

export class RoundRobinQueueScheduler implements QueueScheduler {
  private turn = 0;

  order<T>(queues: T[]): T[] {
    if (queues.length < 2) return queues;
    const k = this.turn++ % queues.length;
    return queues.slice(k).concat(queues.slice(0, k));
  }
}

export function queueScheduler(name: QueueSchedulerName): QueueScheduler {
  return name === 'round-robin' ? new RoundRobinQueueScheduler() : new RandomQueueScheduler();
}
