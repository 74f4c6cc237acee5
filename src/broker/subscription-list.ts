import { StompError } from '../errors.js';
import type { Frame } from '../protocol/frame.js';
import type { StompVersion } from '../protocol/version.js';
import type { Message } from './message.js';
import { Delivery, type Consumer, type Subscription } from './subscription.js';

/**
 * A session's subscriptions by id, and every unacknowledged delivery of theirs by its `ack`
 * id, in the order they were delivered across subscriptions (which is the order they go
 * back to their queues in when the session ends).
 */
export class SubscriptionList {
  readonly consumer: Consumer;
  private readonly byId = new Map<string, Subscription>();
  private readonly byAckId = new Map<string, Delivery>();
  private ackCounter = 0;

  constructor(consumer: Consumer) {
    this.consumer = consumer;
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Subscription | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  add(sub: Subscription): void {
    this.byId.set(sub.id, sub);
  }

  values(): IterableIterator<Subscription> {
    return this.byId.values();
  }

  /** A STOMP 1.0 UNSUBSCRIBE may name a destination instead of an id. */
  byDestination(name: string): Subscription | undefined {
    for (const s of this.byId.values()) if (s.destination.name === name) return s;
    return undefined;
  }

  /**
   * Records a client-ack delivery under a new `ack` id. The id is unique on this session
   * and is a decimal counter, so it never holds ':', '\', CR or LF, which lax clients
   * would mishandle (STOMP 1.2, "Value Encoding").
   */
  track(sub: Subscription, message: Message): Delivery {
    const d = new Delivery(message, sub, String(++this.ackCounter));
    sub.track(d);
    this.byAckId.set(d.ackId, d);
    return d;
  }

  /** The delivery is acknowledged or NACKed. */
  untrack(d: Delivery): void {
    d.subscription.untrack(d);
    this.byAckId.delete(d.ackId);
  }

  /** Still unacknowledged (not settled since, nor returned with its subscription). */
  isPending(d: Delivery): boolean {
    return this.byAckId.get(d.ackId) === d;
  }

  /**
   * The unacknowledged delivery an ACK or NACK names, the way its version names it: by `id`
   * in 1.2 (STOMP 1.2, "ACK"), by `message-id` and `subscription` in 1.1 (STOMP 1.1, "ACK"),
   * by `message-id` alone in 1.0. A 1.1 `subscription` that does not hold a queue message
   * only fails to narrow the search (as RabbitMQ).
   */
  find(frame: Frame, version: StompVersion): Delivery {
    if (version === '1.2') {
      const id = frame.header('id');
      if (id === undefined)
        throw new StompError('MISSING_HEADER', `${frame.command} needs id (STOMP 1.2)`);
      const d = this.byAckId.get(id);
      if (d === undefined) throw new StompError('UNKNOWN_MESSAGE', `ack id ${id}`);
      return d;
    }
    const messageId = frame.header('message-id');
    if (messageId === undefined)
      throw new StompError('MISSING_HEADER', `${frame.command} needs message-id`);
    const subId = frame.header('subscription');
    if (subId === undefined && version === '1.1') {
      throw new StompError('MISSING_HEADER', `${frame.command} needs subscription (STOMP 1.1)`);
    }
    // The named subscription first; then, as 1.0 names none and clients written against
    // RabbitMQ may name the wrong one, every subscription of the session. A queue message is
    // out to one subscription at most, so its id names one delivery; a topic message may be
    // out to several subscriptions of this session, so a 1.1 frame must name the right one.
    const named = subId === undefined ? undefined : this.byId.get(subId)?.find(messageId);
    if (named !== undefined) return named;
    for (const sub of this.byId.values()) {
      const d = sub.find(messageId);
      if (d !== undefined && (subId === undefined || sub.destination.kind === 'queue')) return d;
    }
    throw new StompError('UNKNOWN_MESSAGE', `message-id ${messageId}`);
  }

  /** Ends one subscription; returns its unacknowledged messages in delivery order. */
  remove(sub: Subscription): Message[] {
    this.byId.delete(sub.id);
    for (const d of sub.deliveries()) this.byAckId.delete(d.ackId);
    return sub.end();
  }

  /**
   * Ends every subscription (the session is closing). Returns them, and their
   * unacknowledged deliveries in the order this session received them.
   */
  removeAll(): { subscriptions: Subscription[]; unacked: Delivery[] } {
    const unacked = [...this.byAckId.values()];
    this.byAckId.clear();
    const subscriptions = [...this.byId.values()];
    this.byId.clear();
    for (const sub of subscriptions) sub.end();
    return { subscriptions, unacked };
  }
}
