import { randomBytes } from 'node:crypto';
import { StompError, type ErrorCode } from '../errors.js';
import { encodeError } from '../protocol/encoder.js';
import type { Frame } from '../protocol/frame.js';
import { isQueueName, Queue, Topic, type Destination } from './destination.js';
import { messageFromSend, type Message, type MessageTemplate } from './message.js';
import type { ResolvedOptions } from './options.js';
import { TickFlusher } from './output.js';
import {
  queueScheduler,
  subscriberScheduler,
  type QueueScheduler,
  type SubscriberScheduler,
} from './scheduler.js';
import { Session } from './session.js';
import { MessageStorage } from './storage.js';
import type { ByteStream } from './stream.js';
import type { SubscriptionList } from './subscription-list.js';
import { Subscription, type AckMode, type Delivery } from './subscription.js';

export interface BrokerStats {
  connections: number;
  queues: number;
  topics: number;
  /** Messages waiting in queues, on disk included. */
  messagesQueued: number;
  /** Of those, how many are held in memory. */
  messagesInMemory: number;
  errors: Partial<Record<ErrorCode, number>>;
}

/**
 * What a SEND did, for the session that sent it: whether it wrote to the store (its RECEIPT
 * then waits for the disk), whether the store is behind, and a queue that is now full.
 * One object per engine, filled anew by each send(): no allocation per message. Read it at
 * once, before anything else can send.
 */
export interface SendOutcome {
  wroteToStore: boolean;
  storeBehind: boolean;
  fullQueue: Queue | undefined;
}

/**
 * The engine: destinations, routing, subscriptions, acknowledgements and the sessions it
 * serves. It opens no socket: a transport hands it byte streams (handle), and every
 * session calls into it in one direction (see docs/architecture.md).
 */
export class Engine {
  readonly options: ResolvedOptions;
  readonly storage: MessageStorage;
  readonly flusher = new TickFlusher();
  private readonly sessions = new Set<Session>();
  private readonly queues = new Map<string, Queue>();
  private readonly topics = new Map<string, Topic>();
  private readonly subscriberScheduler: SubscriberScheduler;
  private readonly queueScheduler: QueueScheduler;
  private readonly errors: Partial<Record<ErrorCode, number>> = {};
  /** Prefix of the ids this broker makes; random per start, so ids never repeat across restarts. */
  private readonly prefix = randomBytes(4).toString('hex');
  private readonly outcome: SendOutcome = {
    wroteToStore: false,
    storeBehind: false,
    fullQueue: undefined,
  };
  private messageSeq = 0;
  private sessionCounter = 0;
  private storeOpen = false;
  private closing = false;
  private whenEmpty: (() => void) | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.storage = new MessageStorage(options.store, options.logger, options.maxStorePendingBytes);
    this.subscriberScheduler = subscriberScheduler(options.subscriberScheduler);
    this.queueScheduler = queueScheduler(options.queueScheduler);
  }

  /**
   * Opens the store and brings back its queues. Messages stay on disk; each queue pages
   * them in as its consumers need them, so a large backlog does not have to fit in memory.
   */
  async open(): Promise<void> {
    const store = this.storage.store;
    if (store === undefined || this.storeOpen) return;
    const contents = await store.open();
    this.storeOpen = true;
    this.messageSeq = contents.maxSeq;
    let messages = 0;
    for (const { name, count } of contents.queues) {
      this.queue(name).restore(count);
      messages += count;
    }
    this.options.logger.info({ queues: contents.queues.length, messages }, 'store opened');
  }

  /** Serves a new connection from any transport. */
  handle(stream: ByteStream): void {
    if (this.closing || this.sessions.size >= this.options.maxConnections) {
      const code: ErrorCode = this.closing ? 'SERVER_SHUTDOWN' : 'TOO_MANY_CONNECTIONS';
      this.countError(code);
      this.options.logger.info(
        { remote: stream.remoteAddress, transport: stream.transport, code },
        'connection refused',
      );
      stream.attach({ onData() {}, onDrain() {}, onClose() {} });
      stream.write(encodeError(new StompError(code), [], '1.0'));
      stream.end();
      setTimeout(() => stream.destroy(), this.options.closeLinger).unref();
      return;
    }
    const s = new Session(this, stream, `${this.prefix}-${++this.sessionCounter}`);
    this.sessions.add(s);
    this.options.logger.info(
      { session: s.id, remote: s.remoteAddress, transport: s.transport },
      'connection open',
    );
  }

  sessionClosed(s: Session): void {
    if (!this.sessions.delete(s)) return;
    this.options.logger.info(
      { session: s.id, remote: s.remoteAddress, login: s.login, reason: s.closeReason },
      'connection closed',
    );
    if (this.sessions.size === 0) this.whenEmpty?.();
  }

  /** A session ends with an ERROR: logged, and counted by its code. */
  reportError(s: Session, e: StompError, cause: unknown): void {
    const log = this.options.logger;
    const entry = { session: s.id, remote: s.remoteAddress, code: e.code, detail: e.detail };
    if (e.code === 'INTERNAL_ERROR') log.error({ ...entry, err: cause }, 'internal error');
    else if (e.code === 'SLOW_CONSUMER' || e.code === 'STORE_FAILED')
      log.warn(entry, 'sending ERROR');
    else log.info(entry, 'sending ERROR');
    this.countError(e.code);
  }

  private countError(code: ErrorCode): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  stats(): BrokerStats {
    let queued = 0;
    let inMemory = 0;
    for (const q of this.queues.values()) {
      queued += q.depth;
      inMemory += q.inMemory;
    }
    return {
      connections: this.sessions.size,
      queues: this.queues.size,
      topics: this.topics.size,
      messagesQueued: queued,
      messagesInMemory: inMemory,
      errors: { ...this.errors },
    };
  }

  queueDepth(name: string): number {
    return this.queues.get(name)?.depth ?? 0;
  }

  // --- what sessions ask for -----------------------------------------------------------------

  /**
   * A SEND (or a transaction's, at COMMIT): makes the message and routes it. Persistent
   * queue messages go to the store (topic messages never do); once a queue keeps messages
   * on disk everything sent to it does, so that each producer's order is kept.
   */
  send(destination: string, frame: Frame, template: MessageTemplate): SendOutcome {
    const seq = ++this.messageSeq;
    const message = messageFromSend(seq, `${this.prefix}-${seq}`, destination, frame, template);
    let wroteToStore = false;
    let storeBehind = false;
    let fullQueue: Queue | undefined;
    if (!isQueueName(destination)) {
      this.topics.get(destination)?.publish(message);
    } else {
      const q = this.queue(destination);
      if (this.storage.store !== undefined && (message.persistent || q.spilling)) {
        this.storage.add(message);
        wroteToStore = true;
        storeBehind = this.storage.behind;
      }
      q.enqueue(message);
      // Bounded memory: a full queue stops reading from the producers sending to it (with a
      // store, only from those whose messages could not go to disk).
      if (!message.stored && q.full) fullQueue = q;
    }
    // Filled only now: delivering can resume another producer, whose SENDs run before this
    // returns and use the same object.
    const out = this.outcome;
    out.wroteToStore = wroteToStore;
    out.storeBehind = storeBehind;
    out.fullQueue = fullQueue;
    return out;
  }

  /**
   * A new subscription. `prefetch`: the most unacknowledged messages it may hold, as
   * SUBSCRIBE named it (undefined: none named). Queue subscriptions with client acks get
   * defaultPrefetch when none is named; topic subscriptions are limited only when one is.
   * Acknowledgements limit nothing on auto-ack subscriptions: flow is by the send buffer.
   */
  subscribe(
    list: SubscriptionList,
    id: string,
    explicitId: boolean,
    name: string,
    ackMode: AckMode,
    prefetch: number | undefined,
  ): void {
    let dest: Destination | undefined;
    if (isQueueName(name)) {
      dest = this.queue(name);
    } else {
      dest = this.topics.get(name);
      if (dest === undefined) {
        dest = new Topic(name, this.options);
        this.topics.set(name, dest);
      }
    }
    const o = this.options;
    let limit = Infinity;
    if (ackMode !== 'auto' && (prefetch !== undefined || dest.kind === 'queue')) {
      limit = Math.min(prefetch ?? o.defaultPrefetch, o.maxUnackedPerSubscription);
    } else if (ackMode === 'auto' && prefetch !== undefined) {
      limit = prefetch;
    }
    const sub = new Subscription(list, id, explicitId, dest, ackMode, limit);
    list.add(sub);
    dest.addSubscription(sub);
    if (dest.kind === 'queue') dest.dispatch();
  }

  /** Ends a subscription: its unacknowledged queue messages go back to the head of the queue. */
  unsubscribe(list: SubscriptionList, sub: Subscription): void {
    const returned = list.remove(sub);
    const dest = sub.destination;
    dest.removeSubscription(sub);
    if (dest.kind === 'queue' && returned.length > 0) dest.requeue(returned);
    this.dropIfIdle(dest);
  }

  /**
   * Ends every subscription of a closing session. Unacknowledged queue messages go back to
   * the head of their queues in the order the session received them, across subscriptions.
   */
  releaseAll(list: SubscriptionList): void {
    const { subscriptions, unacked } = list.removeAll();
    const returned = new Map<Queue, Message[]>();
    for (const d of unacked) {
      const dest = d.subscription.destination;
      if (dest.kind !== 'queue') continue;
      const messages = returned.get(dest);
      if (messages === undefined) returned.set(dest, [d.message]);
      else messages.push(d.message);
    }
    for (const sub of subscriptions) sub.destination.removeSubscription(sub);
    for (const [q, messages] of returned) q.requeue(messages);
    for (const sub of subscriptions) this.dropIfIdle(sub.destination);
  }

  /**
   * ACK: settles the deliveries it acknowledges, consumes their messages, and gives the
   * subscription more. Returns whether it wrote to the store.
   */
  ack(list: SubscriptionList, d: Delivery): boolean {
    let wrote = false;
    for (const x of d.subscription.acknowledgedBy(d)) {
      list.untrack(x);
      if (this.storage.consumed(x.message)) wrote = true;
    }
    this.offerMore(d.subscription);
    return wrote;
  }

  /**
   * NACK: the deliveries it settles go back to the head of their queue when `requeue`,
   * else they are dropped. Returns whether it wrote to the store.
   */
  nack(list: SubscriptionList, d: Delivery, requeue: boolean): boolean {
    const settled = d.subscription.acknowledgedBy(d);
    for (const x of settled) list.untrack(x);
    const dest = d.subscription.destination;
    if (dest.kind !== 'queue') {
      d.subscription.deliverHeldBack();
      return false;
    }
    if (requeue) {
      dest.requeue(settled.map((x) => x.message));
      return false;
    }
    let wrote = false;
    for (const x of settled) if (this.storage.consumed(x.message)) wrote = true;
    dest.dispatch();
    return wrote;
  }

  /** An ACK or NACK inside a transaction: held until it ends, and no longer in flight. */
  hold(d: Delivery): void {
    if (d.subscription.hold(d)) this.offerMore(d.subscription);
  }

  /** A session's send buffer drained: serve its queues, in the queue scheduler's order. */
  serveDrained(list: SubscriptionList): void {
    const queues: Queue[] = [];
    for (const sub of list.values()) {
      const d = sub.destination;
      if (d.kind === 'queue' && d.depth > 0 && !queues.includes(d)) queues.push(d);
    }
    for (const q of this.queueScheduler.order(queues)) q.dispatch();
  }

  // --- destinations -------------------------------------------------------------------------

  /** The queue of that name, made on first use. */
  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new Queue(name, this.subscriberScheduler, this.options, this.storage);
      this.queues.set(name, q);
    }
    return q;
  }

  /** A subscription has room again: give it more from its queue, or what its topic held back. */
  private offerMore(sub: Subscription): void {
    const dest = sub.destination;
    if (dest.kind === 'queue') {
      dest.dispatch();
      this.dropIfIdle(dest);
    } else {
      sub.deliverHeldBack();
    }
  }

  private dropIfIdle(dest: Destination): void {
    if (!dest.idle) return;
    if (dest.kind === 'queue') this.queues.delete(dest.name);
    else this.topics.delete(dest.name);
  }

  // --- shutdown ------------------------------------------------------------------------------

  /**
   * Refuses new connections, tells every client the server is shutting down (an ERROR, then
   * close) and resolves once every session has closed. Sessions still open after `timeout`
   * ms are dropped (default: no limit).
   */
  async closeSessions(timeout?: number): Promise<void> {
    this.closing = true;
    const drained =
      this.sessions.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => (this.whenEmpty = resolve));
    for (const s of [...this.sessions]) s.fail(new StompError('SERVER_SHUTDOWN'));
    const timer =
      timeout === undefined
        ? undefined
        : setTimeout(() => {
            const left = [...this.sessions];
            this.options.logger.warn(
              { connections: left.length, timeout },
              'shutdown timeout: dropping the connections still open',
            );
            for (const s of left) s.destroy();
          }, timeout);
    await drained;
    clearTimeout(timer);
  }

  /** After closeSessions: stops reading from the store, then closes it (pending commits finish first). */
  async closeStore(): Promise<void> {
    for (const q of this.queues.values()) q.stop();
    const store = this.storage.store;
    if (store !== undefined && this.storeOpen) {
      this.storeOpen = false;
      await store.close();
    }
  }
}
