import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { StompError, type ErrorCode } from '../errors.js';
import { Frame } from '../protocol/frame.js';
import type { ByteStream } from '../transport/stream.js';
import { SocketStream } from '../transport/tcp.js';
import { certificateLogin, createTlsServer } from '../transport/tls.js';
import { createWebSocketServer } from '../transport/websocket.js';
import { Connection, errorFrame } from './connection.js';
import { isQueueName, Queue, Topic, type Destination } from './destination.js';
import { Message, RESERVED_HEADERS } from './message.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import {
  queueScheduler,
  subscriberScheduler,
  type QueueScheduler,
  type SubscriberScheduler,
} from './scheduler.js';
import { Subscription, type AckMode, type Delivery } from './subscription.js';
import type { Store, StoredMessage } from '../store/store.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface BrokerAddress {
  host: string;
  /** The TCP port. */
  port: number;
  /** The TLS port, when TLS is on. */
  tlsPort?: number;
  /** The WebSocket port, when WebSocket is on. */
  wsPort?: number;
  /** The secure WebSocket port, when wss is on. */
  wssPort?: number;
}

type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

/** One listening server: TCP, TLS, or the HTTP(S) server carrying WebSockets. */
interface Listener {
  transport: Transport;
  server: net.Server;
  /** For ws and wss. */
  wss?: { close(cb?: (err?: Error) => void): void };
}

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
 * The broker: destinations, connections, routing, acknowledgement. Create it with
 * startBroker(); close() releases every socket, timer and handle it opened.
 */
export class Broker {
  readonly options: ResolvedOptions;
  readonly version = VERSION;
  private readonly connections = new Set<Connection>();
  private readonly queues = new Map<string, Queue>();
  private readonly topics = new Map<string, Topic>();
  private readonly subscriberScheduler: SubscriberScheduler;
  private readonly queueScheduler: QueueScheduler;
  private readonly errors: Partial<Record<ErrorCode, number>> = {};
  /** Prefix of ids this broker makes; random per start so ids never repeat across restarts. */
  private readonly prefix = randomBytes(4).toString('hex');
  /** Where queues are kept durably; undefined keeps everything in memory only. */
  readonly store: Store | undefined;
  private messageSeq = 0;
  private storeOpen = false;
  private sessionCounter = 0;
  private corked: Connection[] = [];
  private uncorkScheduled = false;
  private readonly listeners: Listener[] = [];
  private closing: Promise<void> | undefined;
  private whenEmpty: (() => void) | undefined;

  constructor(options: BrokerOptions = {}) {
    this.options = resolveOptions(options);
    this.subscriberScheduler = subscriberScheduler(this.options.subscriberScheduler);
    this.queueScheduler = queueScheduler(this.options.queueScheduler);
    this.flushCorked = this.flushCorked.bind(this);
    this.store = this.options.store;
  }

  /**
   * Opens the store and brings back its queues (R-04, restart). Messages stay on disk;
   * each queue pages them in as its consumers need them, so a large backlog does not
   * have to fit in memory.
   */
  private async openStore(): Promise<void> {
    const store = this.store;
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

  /**
   * Starts every configured listener: TCP always, TLS when `tls` is given (and `tlsPort`
   * is not false), WebSocket when `wsPort` is given, wss when `wssPort` is. If one cannot
   * listen, those already started are closed and the error is thrown.
   */
  async listen(): Promise<void> {
    await this.openStore();
    const o = this.options;
    const planned: Array<{ listener: Listener; port: number }> = [];
    const tcp = net.createServer((socket) => this.accept(new SocketStream(socket)));
    planned.push({ listener: { transport: 'tcp', server: tcp }, port: o.port });
    if (o.tls !== undefined && o.tlsPort !== false) {
      const server = createTlsServer(o.tls, (socket) =>
        this.accept(new SocketStream(socket, 'tls', certificateLogin(socket))),
      );
      planned.push({ listener: { transport: 'tls', server }, port: o.tlsPort });
    }
    const web = (transport: 'ws' | 'wss', port: number): void => {
      const { server, wss } = createWebSocketServer(
        {
          path: o.wsPath,
          maxFrameSize: o.maxFrameSize,
          allowedOrigins: o.allowedOrigins,
          tls: transport === 'wss' ? o.tls : undefined,
        },
        (stream) => this.accept(stream),
      );
      planned.push({ listener: { transport, server, wss }, port });
    };
    if (o.wsPort !== undefined) web('ws', o.wsPort);
    if (o.tls !== undefined && o.wssPort !== undefined) web('wss', o.wssPort);

    try {
      for (const { listener, port } of planned) {
        await new Promise<void>((resolve, reject) => {
          const server = listener.server;
          server.once('error', reject);
          server.listen(port, o.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        this.listeners.push(listener);
        const a = listener.server.address() as net.AddressInfo;
        o.logger.info(
          {
            host: a.address,
            port: a.port,
            transport: listener.transport,
            ...(listener.wss !== undefined ? { path: o.wsPath } : {}),
          },
          'listening',
        );
      }
    } catch (err) {
      await this.closeListeners().closed;
      throw err;
    }
  }

  /** Host and ports actually bound (so port 0 can be used for any of them). */
  address(): BrokerAddress {
    const ports: Partial<Record<Transport, number>> = {};
    let host: string | undefined;
    for (const l of this.listeners) {
      const a = l.server.address();
      if (a === null || typeof a === 'string') continue;
      host ??= a.address;
      ports[l.transport] = a.port;
    }
    if (host === undefined || ports.tcp === undefined) {
      throw new Error('broker is not listening');
    }
    const out: BrokerAddress = { host, port: ports.tcp };
    if (ports.tls !== undefined) out.tlsPort = ports.tls;
    if (ports.ws !== undefined) out.wsPort = ports.ws;
    if (ports.wss !== undefined) out.wssPort = ports.wss;
    return out;
  }

  /**
   * Stops every listener from accepting. `closed` resolves once each has closed, its
   * connections included; `dropHttp` ends the connections of the WebSocket listeners'
   * HTTP servers that are not sessions (requests that never upgraded).
   */
  private closeListeners(): { closed: Promise<void>; dropHttp(): void } {
    const list = this.listeners.splice(0);
    const httpOf = (l: Listener): http.Server | undefined =>
      l.wss !== undefined ? (l.server as http.Server) : undefined;
    const closed = Promise.all(
      list.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.wss?.close();
            l.server.close(() => resolve());
            httpOf(l)?.closeIdleConnections();
          }),
      ),
    ).then(() => undefined);
    return { closed, dropHttp: () => list.forEach((l) => httpOf(l)?.closeAllConnections()) };
  }

  /** Takes a new connection from any transport. */
  accept(stream: ByteStream): void {
    if (this.closing !== undefined || this.connections.size >= this.options.maxConnections) {
      const code: ErrorCode =
        this.closing !== undefined ? 'SERVER_SHUTDOWN' : 'TOO_MANY_CONNECTIONS';
      this.countError(code);
      this.options.logger.info(
        { remote: stream.remoteAddress, transport: stream.transport, code },
        'connection refused',
      );
      stream.attach({ onData() {}, onDrain() {}, onClose() {} });
      stream.write(errorFrame(new StompError(code), [], '1.0'));
      stream.end();
      setTimeout(() => stream.destroy(), this.options.closeLinger).unref();
      return;
    }
    const c = new Connection(this, stream, `${this.prefix}-${++this.sessionCounter}`);
    this.connections.add(c);
    this.options.logger.info(
      { session: c.id, remote: c.remoteAddress, transport: c.transport },
      'connection open',
    );
  }

  connectionClosed(c: Connection): void {
    if (!this.connections.delete(c)) return;
    this.options.logger.info(
      { session: c.id, remote: c.remoteAddress, login: c.login, reason: c.closeReason },
      'connection closed',
    );
    if (this.connections.size === 0) this.whenEmpty?.();
  }

  countError(code: ErrorCode): void {
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
      connections: this.connections.size,
      queues: this.queues.size,
      topics: this.topics.size,
      messagesQueued: queued,
      messagesInMemory: inMemory,
      errors: { ...this.errors },
    };
  }

  /** Depth of a queue (messages waiting for a consumer), 0 if it does not exist. */
  queueDepth(name: string): number {
    return this.queues.get(name)?.depth ?? 0;
  }

  // --- writing: one cork per connection per tick -------------------------------------------

  scheduleUncork(c: Connection): void {
    this.corked.push(c);
    if (!this.uncorkScheduled) {
      this.uncorkScheduled = true;
      process.nextTick(this.flushCorked);
    }
  }

  private flushCorked(): void {
    this.uncorkScheduled = false;
    const list = this.corked;
    this.corked = [];
    for (let i = 0; i < list.length; i++) list[i]!.uncork();
  }

  // --- messages ------------------------------------------------------------------------------

  /**
   * Makes a message from a SEND: `destination` first, then every user header in order
   * (SD-03); headers only the broker may set are dropped (SD-06).
   */
  createMessage(destination: string, f: Frame, sender?: Connection): Message {
    const seq = ++this.messageSeq;
    const id = `${this.prefix}-${seq}`;
    // The destination comes from the frame's headers, so it is plain when they all are.
    const plain = f.plain;
    const template = plain ? sender?.template : undefined;
    if (template?.reuse(f.headers, destination, f.body.length) === true) {
      return new Message(seq, id, destination, template.headers, f.body, true, template.parts);
    }
    const headers = ['destination', destination];
    const h = f.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (!RESERVED_HEADERS.has(h[i]!)) headers.push(h[i]!, h[i + 1]!);
    }
    const parts = template?.remember(f.headers, destination, f.body.length, headers);
    return new Message(seq, id, destination, headers, f.body, plain, parts);
  }

  /** A message brought back from the store. */
  private fromStore(m: StoredMessage): Message {
    const message = new Message(m.seq, m.id, m.queue, m.headers, m.body);
    message.deliveries = m.deliveries;
    message.stored = true;
    return message;
  }

  /** The queue of that name, made on first use. */
  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new Queue(name, this.subscriberScheduler, this.options, this.pager);
      this.queues.set(name, q);
    }
    return q;
  }

  /** How a queue reads back messages it left on disk (after the writes before are durable). */
  private readonly pager = (
    queue: string,
    afterSeq: number,
    limit: number,
    done: (m: Message[] | Error) => void,
  ): void => {
    const store = this.store!;
    const failed = (err: Error): void => {
      this.options.logger.error({ queue, err }, 'store read failed');
      done(err);
    };
    store.sync((err) => {
      if (err !== undefined) return failed(err);
      store.load(queue, afterSeq, limit).then(
        (list) => done(list.map((m) => this.fromStore(m))),
        (e: unknown) => failed(e instanceof Error ? e : new Error(String(e))),
      );
    });
  };

  /** The message is no longer needed: acknowledged, auto-consumed or dropped. */
  private consumed(c: Connection | undefined, message: Message): void {
    if (message.stored) {
      message.stored = false;
      this.store!.remove(message.seq);
      if (c !== undefined) c.wroteToStore();
    }
  }

  /** A delivery of a stored message: count it on disk too, so a restart says redelivered. */
  delivered(message: Message, clientAck: boolean): void {
    if (!message.stored) return;
    if (clientAck) this.store!.setDeliveries(message.seq, message.deliveries);
    else this.consumed(undefined, message);
  }

  route(sender: Connection, message: Message): void {
    const name = message.destination;
    if (isQueueName(name)) {
      const q = this.queue(name);
      // Persistent messages go to the store (topic messages never do). Once a queue keeps
      // messages on disk, everything sent to it does, so that order is kept (per producer).
      if (this.store !== undefined && (message.persistent || q.spilling)) {
        this.store.add({
          seq: message.seq,
          id: message.id,
          queue: name,
          headers: message.shared.headers as string[],
          body: message.shared.body,
          deliveries: 0,
        });
        message.stored = true;
        sender.wroteToStore();
        // A disk slower than the producers: stop reading from them until it catches up.
        const pending = this.store.pendingBytes;
        if (pending !== undefined && pending > this.options.maxStorePendingBytes) {
          sender.waitForStore(this.store);
        }
      }
      q.enqueue(message);
      // Bounded memory: a full queue stops reading from the producers sending to it
      // (with a store, only those whose messages could not go to disk).
      if (!message.stored && q.full && !sender.closing) sender.blockOn(q);
    } else {
      this.topics.get(name)?.publish(message);
    }
  }

  subscribe(
    c: Connection,
    id: string,
    explicitId: boolean,
    name: string,
    ackMode: AckMode,
    prefetch: number,
  ): void {
    let dest: Destination | undefined;
    if (isQueueName(name)) {
      dest = this.queue(name);
    } else {
      dest = this.topics.get(name);
      if (dest === undefined) {
        dest = new Topic(name);
        this.topics.set(name, dest);
      }
    }
    const sub = new Subscription(c, id, explicitId, dest, ackMode, prefetch);
    c.subscriptions.set(id, sub);
    dest.addSubscription(sub);
    if (dest.kind === 'queue') dest.dispatch();
  }

  /**
   * Ends a subscription. Its unacknowledged queue messages go back to the head of the
   * queue in the order they were delivered, to be redelivered (US-02, SB-07).
   */
  unsubscribe(sub: Subscription): void {
    sub.active = false;
    const dest = sub.destination;
    dest.removeSubscription(sub);
    const returned: Message[] = [];
    for (const d of sub.unacked.values()) {
      returned.push(d.message);
      sub.connection.deliveries.delete(d.ackId);
    }
    sub.unacked.clear();
    sub.inFlight = 0;
    if (dest.kind === 'queue' && returned.length > 0) dest.requeue(returned);
    this.dropIfIdle(dest);
  }

  /**
   * Ends every subscription of a closing connection. Unacknowledged queue messages go back
   * to the head of their queues in the order this connection received them, across all of
   * its subscriptions (SB-07, D-03).
   */
  releaseSubscriptions(c: Connection): void {
    const returned = new Map<Queue, Message[]>();
    for (const d of c.deliveries.values()) {
      const dest = d.subscription.destination;
      if (dest.kind !== 'queue') continue;
      const list = returned.get(dest);
      if (list === undefined) returned.set(dest, [d.message]);
      else list.push(d.message);
    }
    c.deliveries.clear();
    const dests: Destination[] = [];
    for (const sub of c.subscriptions.values()) {
      sub.active = false;
      sub.unacked.clear();
      sub.inFlight = 0;
      sub.destination.removeSubscription(sub);
      dests.push(sub.destination);
    }
    c.subscriptions.clear();
    for (const [q, messages] of returned) q.requeue(messages);
    for (const d of dests) this.dropIfIdle(d);
  }

  private dropIfIdle(dest: Destination): void {
    if (!dest.idle) return;
    if (dest.kind === 'queue') this.queues.delete(dest.name);
    else this.topics.delete(dest.name);
  }

  /** ACK (SB-05, SB-06): the covered messages are consumed. */
  ack(c: Connection, d: Delivery): void {
    for (const x of c.covered(d)) {
      c.settle(x);
      this.consumed(c, x.message);
    }
    this.refill(d.subscription);
  }

  /** NACK: the covered messages go back to the head of their queue, by default. */
  nack(c: Connection, d: Delivery): void {
    const covered = c.covered(d);
    for (const x of covered) c.settle(x);
    const dest = d.subscription.destination;
    if (dest.kind === 'queue') {
      if (this.options.nackRequeue) dest.requeue(covered.map((x) => x.message));
      else {
        for (const x of covered) this.consumed(c, x.message);
        dest.dispatch();
      }
    }
  }

  /** A subscription has room again: give it more from its queue. */
  refill(sub: Subscription): void {
    const dest = sub.destination;
    if (dest.kind === 'queue') {
      dest.dispatch();
      this.dropIfIdle(dest);
    }
  }

  /** A connection's send buffer drained: serve its queues, in the queue scheduler's order. */
  serveConnection(c: Connection): void {
    const queues: Queue[] = [];
    for (const sub of c.subscriptions.values()) {
      const d = sub.destination;
      if (d.kind === 'queue' && d.depth > 0 && !queues.includes(d)) queues.push(d);
    }
    for (const q of this.queueScheduler.order(queues)) q.dispatch();
  }

  // --- shutdown ------------------------------------------------------------------------------

  /**
   * Stops accepting, tells every client the server is shutting down (an ERROR, then
   * close), returns unacknowledged messages to their queues, and resolves once every
   * connection and the listener are closed. `timeout`: milliseconds to wait for the
   * connections to close; those still open then are dropped (default: no limit).
   */
  close(timeout?: number): Promise<void> {
    this.closing ??= this.shutdown(timeout);
    return this.closing;
  }

  private async shutdown(timeout?: number): Promise<void> {
    const listeners = this.closeListeners();
    const drained =
      this.connections.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => (this.whenEmpty = resolve));
    for (const c of [...this.connections]) c.fail(new StompError('SERVER_SHUTDOWN'));
    const timer =
      timeout === undefined
        ? undefined
        : setTimeout(() => {
            const left = [...this.connections];
            this.options.logger.warn(
              { connections: left.length, timeout },
              'shutdown timeout: dropping the connections still open',
            );
            for (const c of left) c.stream.destroy();
          }, timeout);
    await drained;
    clearTimeout(timer);
    // Every session is closed: what is still open on a WebSocket port is plain HTTP.
    listeners.dropHttp();
    await listeners.closed;
    // Pending commits finish (and their receipts have gone out) before the store closes.
    for (const q of this.queues.values()) q.stop();
    if (this.store !== undefined && this.storeOpen) {
      this.storeOpen = false;
      await this.store.close();
    }
    this.options.logger.info({}, 'closed');
  }
}

/** Starts a broker and resolves once it is listening. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const broker = new Broker(options);
  await broker.listen();
  return broker;
}
