import type { StompError } from '../errors.js';
import type { EncodedLines } from '../protocol/encoder.js';
import { Deque } from './deque.js';
import type { Destination } from './destination.js';
import type { Message } from './message.js';
import type { SubscriptionList } from './subscription-list.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/**
 * What the engine knows of a session: where its subscriptions' messages are written, and
 * how to end it. The engine reaches a session only through this (see docs/architecture.md).
 */
export interface Consumer {
  /** Connected, and its send buffer below the high-water mark: it can take a queue message. */
  readonly canTakeMessages: boolean;
  /** Bytes written to it and not yet sent. */
  readonly unsentBytes: number;
  /**
   * Writes one MESSAGE. `ackId` is set for client-ack subscriptions; `deliveryCount` is
   * how many times the message has been delivered, this time included.
   */
  writeMessage(
    sub: Subscription,
    message: Message,
    ackId: string | undefined,
    deliveryCount: number,
  ): void;
  /** Ends the session with an ERROR (a slow consumer, a shutdown). */
  fail(error: StompError): void;
  /** Ends the session as a slow consumer unless its send buffer drains within `ms`. */
  expectDrainWithin(ms: number): void;
}

/** A message handed to a client-ack subscription and not yet acknowledged. */
export class Delivery {
  readonly message: Message;
  readonly subscription: Subscription;
  readonly ackId: string;
  /** Acknowledged inside a transaction that has not ended yet: it no longer counts against the prefetch. */
  held = false;

  constructor(message: Message, subscription: Subscription, ackId: string) {
    this.message = message;
    this.subscription = subscription;
    this.ackId = ackId;
  }
}

/**
 * One SUBSCRIBE: its destination, ack mode and prefetch, and the deliveries it holds
 * unacknowledged. It owns that state; the session's SubscriptionList owns the index of
 * every delivery by its `ack` id.
 */
export class Subscription {
  readonly id: string;
  /** STOMP 1.0 allows SUBSCRIBE without id; its MESSAGEs then carry no `subscription` header. */
  readonly explicitId: boolean;
  readonly destination: Destination;
  readonly consumer: Consumer;
  readonly list: SubscriptionList;
  readonly ackMode: AckMode;
  readonly clientAck: boolean;
  /** Most unacknowledged messages at once; Infinity for auto (flow is then by send buffer). */
  readonly prefetch: number;
  /** This subscription's own MESSAGE header line, encoded once for its session's version. */
  ownLines: EncodedLines | undefined = undefined;
  /** Unacknowledged deliveries by message id, in delivery order (what `client` acks cumulate over). */
  private readonly unacked = new Map<string, Delivery>();
  /** Unacknowledged deliveries that count against the prefetch: those not held by a transaction. */
  private inFlight = 0;
  private active = true;
  /**
   * Topic messages held back while the prefetch is full (made at first use): a topic has
   * nowhere else to keep them. They go out as acknowledgements make room.
   */
  private heldBack: Deque<Message> | undefined;

  constructor(
    list: SubscriptionList,
    id: string,
    explicitId: boolean,
    destination: Destination,
    ackMode: AckMode,
    prefetch: number,
  ) {
    this.list = list;
    this.consumer = list.consumer;
    this.id = id;
    this.explicitId = explicitId;
    this.destination = destination;
    this.ackMode = ackMode;
    this.clientAck = ackMode !== 'auto';
    this.prefetch = prefetch;
  }

  /** Can take another queue message now. */
  get ready(): boolean {
    return this.active && this.inFlight < this.prefetch && this.consumer.canTakeMessages;
  }

  get isActive(): boolean {
    return this.active;
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Deliveries that count against the prefetch. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /**
   * Hands a message to the session. A client-ack delivery is recorded first, under a new
   * `ack` id, so that the MESSAGE can carry it.
   */
  deliver(message: Message, deliveryCount: number): void {
    const ackId = this.clientAck ? this.list.track(this, message).ackId : undefined;
    this.consumer.writeMessage(this, message, ackId, deliveryCount);
  }

  /** Records an unacknowledged delivery (SubscriptionList.track makes it). */
  track(d: Delivery): void {
    this.unacked.set(d.message.id, d);
    this.inFlight++;
  }

  /** The unacknowledged delivery of a message id, if any. */
  find(messageId: string): Delivery | undefined {
    return this.unacked.get(messageId);
  }

  /** A delivery is acknowledged or NACKed: it is no longer unacknowledged. */
  untrack(d: Delivery): void {
    this.unacked.delete(d.message.id);
    if (d.held) d.held = false;
    else this.inFlight--;
  }

  /**
   * The deliveries an ACK or NACK of `d` settles (STOMP 1.2, "SUBSCRIBE ack Header"):
   * in `client` mode every earlier unacknowledged message of this subscription too, and
   * none of another; in `client-individual` mode `d` alone.
   */
  acknowledgedBy(d: Delivery): Delivery[] {
    if (this.ackMode !== 'client') return [d];
    const out: Delivery[] = [];
    for (const x of this.unacked.values()) {
      out.push(x);
      if (x === d) break;
    }
    return out;
  }

  /**
   * Acknowledged inside an open transaction: until it ends, the delivery stops counting
   * against the prefetch, so the subscription keeps receiving (STOMP 1.2, "ABORT": the
   * ACK may still be undone). Returns whether it was not held already.
   */
  hold(d: Delivery): boolean {
    if (d.held) return false;
    d.held = true;
    this.inFlight--;
    return true;
  }

  /** The transaction holding `d` was aborted: it counts against the prefetch again. */
  unhold(d: Delivery): void {
    if (!d.held) return;
    d.held = false;
    this.inFlight++;
  }

  /** Its prefetch is full: a topic message must wait (see heldBack). */
  get full(): boolean {
    return this.inFlight >= this.prefetch;
  }

  get heldBackCount(): number {
    return this.heldBack?.length ?? 0;
  }

  /** Keeps a topic message until the prefetch has room (topic subscriptions only). */
  holdBack(message: Message): void {
    (this.heldBack ??= new Deque()).push(message);
  }

  /** Delivers held-back topic messages while the prefetch has room. */
  deliverHeldBack(): void {
    const held = this.heldBack;
    if (held === undefined) return;
    while (held.length > 0 && this.active && !this.full) this.deliver(held.shift()!, 1);
  }

  /**
   * The subscription ends: it takes no more messages, and returns its unacknowledged ones
   * in delivery order, for the caller to put back on their queue. Held-back topic messages
   * are dropped, as a topic's messages are for its current subscribers only.
   */
  end(): Message[] {
    this.active = false;
    this.heldBack = undefined;
    const messages: Message[] = [];
    for (const d of this.unacked.values()) messages.push(d.message);
    this.unacked.clear();
    this.inFlight = 0;
    return messages;
  }

  /** Its unacknowledged deliveries, in delivery order. */
  deliveries(): IterableIterator<Delivery> {
    return this.unacked.values();
  }
}
