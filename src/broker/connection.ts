import { StompError } from '../errors.js';
import {
  encodeFrame,
  FRAME_END,
  headerText,
  HEARTBEAT,
  type SharedMessage,
} from '../protocol/encoder.js';
import { EMPTY, Frame } from '../protocol/frame.js';
import { FrameParser, type ParserHandler } from '../protocol/parser.js';
import type { StompVersion } from '../protocol/version.js';
import type { ByteStream, StreamHandler } from '../transport/stream.js';
import type { Broker } from './broker.js';
import type { Queue } from './destination.js';
import { dispatchFrame, SELF_RECEIPTING } from './handlers.js';
import { MessageTemplate, type Message } from './message.js';
import type { ConnectionInfo } from './options.js';
import type { Store } from '../store/store.js';
import { Delivery, type Subscription } from './subscription.js';

/**
 * An ERROR frame for `e`: `message` (ending in the stable code), `code`, any extra
 * headers, and the description as a text body (ER-02).
 */
export function errorFrame(e: StompError, extra: readonly string[], version: StompVersion): Buffer {
  // The charset parameter is explicit (B-06), and it also keeps stompit 1.0, which
  // mishandles a bare `text/plain` ERROR body, working.
  const headers = [
    'message',
    `${e.message} (${e.code})`,
    'code',
    e.code,
    ...extra,
    'content-type',
    'text/plain;charset=utf-8',
  ];
  return encodeFrame(new Frame('ERROR', headers, Buffer.from(e.message + '\n')), version);
}

/** Bodies from this size on are written without copying them into the frame's buffer. */
const LARGE_BODY = 16 * 1024;
/**
 * A turn's output slab: sizes (see Connection.slab), and the largest frame put in one. The
 * smallest is below half of Buffer.poolSize, so that a turn with little to write takes its
 * slab from Node's shared pool: a fresh ArrayBuffer per turn counts as external memory, and
 * at a few frames per turn it made V8 run full collections every second or two (p99 latency
 * at 2,000 msg/s doubled).
 */
const SLAB_MIN = 2 * 1024;
const SLAB_MAX = 64 * 1024;
const SLAB_FRAME_MAX = 4 * 1024;

/** Bytes read from one connection before it lets the others have a turn (see onData). */
const READ_BUDGET = 256 * 1024;

export type TransactionOp =
  | { kind: 'send'; destination: string; frame: Frame }
  | { kind: 'ack' | 'nack'; delivery: Delivery };

const enum Phase {
  /** Waiting for CONNECT. */
  New,
  /** CONNECT received, authentication pending. */
  Connecting,
  Connected,
  /** ERROR or DISCONNECT handled: nothing more is read. */
  Closing,
  Closed,
}

/**
 * One STOMP session over one byte stream: the parser, the session state (subscriptions,
 * transactions, unacknowledged deliveries), heart-beats, and the write path, which
 * corks the stream once per tick so that all frames written in that tick leave together.
 */
export class Connection implements ParserHandler, StreamHandler, ConnectionInfo {
  readonly id: string;
  readonly broker: Broker;
  readonly stream: ByteStream;
  readonly parser: FrameParser;
  version: StompVersion | undefined;
  login: string | undefined;
  /** Why the session ended, for the log: an error code, DISCONNECT, or 'peer closed'. */
  closeReason: string | undefined;

  readonly subscriptions = new Map<string, Subscription>();
  readonly transactions = new Map<string, TransactionOp[]>();
  /** Unacknowledged deliveries by their `ack` id. */
  readonly deliveries = new Map<string, Delivery>();
  private ackCounter = 0;

  private phase = Phase.New;
  private pauses = 0;
  private blockedByQueue = false;
  private readSinceYield = 0;
  /** WebSocket: each write is a message, so a frame must be written in one piece. */
  private readonly wholeFrames: boolean;
  private yielding = false;
  private waitingForStore = false;
  /** Full queues this connection is waiting on (it sent to them while they were full). */
  private readonly blockers: Queue[] = [];
  corked = false;
  /*
   * Output batching. The first frame of a turn is written as a buffer of its own; the
   * MESSAGEs after it in the same turn are encoded one after another into a slab, which
   * goes to the stream as one write when the turn ends (uncork) or before any other write,
   * to keep the order. A consumer of a busy queue then costs one buffer and one stream
   * write per turn rather than per message. WebSocket needs one message per frame and
   * keeps writing frames one by one.
   */
  private slab: Buffer = EMPTY;
  private slabStart = 0;
  private slabEnd = 0;
  /** Bytes the slabs of this turn carried, which sizes the next turn's slab. */
  private slabBytes = 0;
  private slabSize = SLAB_MIN;

  private loginTimer: NodeJS.Timeout | undefined;
  private beatOutTimer: NodeJS.Timeout | undefined;
  private beatInTimer: NodeJS.Timeout | undefined;
  private beatInRecheck: NodeJS.Immediate | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  private wroteSinceBeat = false;
  private lastRead = 0;
  private beatInLimit = 0;
  /**
   * Store writes made by this connection's frames, and how many of them a completed sync
   * covers. While some are not covered, a RECEIPT waits for the commit: a receipt
   * also acknowledges every earlier frame, receipted or not.
   */
  private storeWrites = 0;
  private storeWritesSynced = 0;
  /** RECEIPTs held until the store commits; later ones queue behind them. */
  private receiptsWaiting = 0;
  private endAfterReceipts = false;
  /** The frame being handled, for `receipt-id` on an ERROR it causes (ER-03). */
  currentFrame: Frame | undefined;
  private lastSend: MessageTemplate | undefined;

  /** What this producer's next message may share with its last one; made at its first SEND. */
  get template(): MessageTemplate {
    return (this.lastSend ??= new MessageTemplate());
  }

  constructor(broker: Broker, stream: ByteStream, id: string) {
    this.broker = broker;
    this.stream = stream;
    this.id = id;
    this.wholeFrames = stream.transport === 'ws' || stream.transport === 'wss';
    const o = broker.options;
    this.parser = new FrameParser(this, {
      maxCommandLength: o.maxCommandLength,
      maxHeaderLineLength: o.maxHeaderLineLength,
      maxHeaders: o.maxHeaders,
      maxFrameSize: o.maxFrameSize,
      decodeConnectEscapes: o.decodeConnectEscapes,
    });
    stream.attach(this);
    // C-10: a connection that never sends CONNECT is closed.
    if (o.loginTimeout > 0) {
      this.loginTimer = setTimeout(
        () => this.fail(new StompError('LOGIN_TIMEOUT')),
        o.loginTimeout,
      );
    }
  }

  get transport(): string {
    return this.stream.transport;
  }

  get remoteAddress(): string {
    return this.stream.remoteAddress;
  }

  get certificateLogin(): string | undefined {
    return this.stream.peerLogin;
  }

  get connected(): boolean {
    return this.phase === Phase.Connected;
  }

  get closing(): boolean {
    return this.phase >= Phase.Closing;
  }

  /** Open, and its send buffer below the high-water mark (flow control for queues). */
  get canTakeMessages(): boolean {
    return this.phase === Phase.Connected && this.unsentBytes < this.broker.options.highWaterMark;
  }

  // --- reading -------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.phase >= Phase.Closing) return;
    this.lastRead = Date.now();
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(err, this.currentFrame);
      return;
    }
    // Fairness: a fast producer could otherwise keep the event loop reading its socket
    // (libuv reads many 64 KiB chunks per event) while every other connection waits. After
    // READ_BUDGET bytes it yields one turn.
    this.readSinceYield += chunk.length;
    if (this.readSinceYield >= READ_BUDGET && !this.yielding) {
      this.yielding = true;
      this.pause();
      setImmediate(this.endYield);
    }
  }

  private readonly endYield = (): void => {
    this.yielding = false;
    this.readSinceYield = 0;
    this.resume();
  };

  onHeartbeat(): void {
    // Any data counts as liveness (HB-04); lastRead was set when the chunk arrived.
  }

  onFrame(frame: Frame): void {
    // D-02: nothing after DISCONNECT or ERROR is processed.
    if (this.phase >= Phase.Closing) return;
    this.currentFrame = frame;
    try {
      const pending = dispatchFrame(this, frame);
      if (pending !== undefined) {
        // Async hook: hold every later frame until this one is done, so frames are
        // handled, and receipts sent, strictly in order.
        this.pause();
        pending.then(
          () => {
            if (this.phase >= Phase.Closing) return;
            this.finishFrame(frame);
            this.resume();
          },
          (err: unknown) => this.fail(err, frame),
        );
        return;
      }
      this.finishFrame(frame);
    } catch (err) {
      this.fail(err, frame);
    }
  }

  private finishFrame(frame: Frame): void {
    this.currentFrame = undefined;
    // The frame ended the session (ERROR, slow consumer): its RECEIPT would follow the ERROR.
    if (this.phase >= Phase.Closing) return;
    if (!SELF_RECEIPTING.has(frame.command)) {
      const receipt = frame.header('receipt');
      if (receipt !== undefined) this.receipt(receipt, frame);
    }
  }

  /** One of this connection's frames wrote to the store. */
  wroteToStore(): void {
    this.storeWrites++;
  }

  /**
   * Answers a frame's `receipt`. If the frame wrote to the store, the RECEIPT waits until
   * that write is durable; once one waits, later ones wait behind it, so receipts
   * keep frame order.
   */
  receipt(receipt: string, frame: Frame): void {
    const store = this.broker.store;
    const writes = this.storeWrites;
    if (store === undefined || (writes === this.storeWritesSynced && this.receiptsWaiting === 0)) {
      this.sendReceipt(receipt);
      return;
    }
    this.receiptsWaiting++;
    store.sync((err) => {
      this.receiptsWaiting--;
      if (this.phase === Phase.Closed) return;
      if (err !== undefined) {
        this.broker.options.logger.error({ session: this.id, err }, 'store commit failed');
        if (this.phase >= Phase.Closing)
          this.endStream(); // after DISCONNECT: just close
        else this.fail(new StompError('STORE_FAILED', err.message), frame);
        return;
      }
      if (writes > this.storeWritesSynced) this.storeWritesSynced = writes;
      this.sendReceipt(receipt);
      if (this.receiptsWaiting === 0 && this.endAfterReceipts) this.endStream();
    });
  }

  private sendReceipt(receipt: string): void {
    this.write(encodeFrame(new Frame('RECEIPT', ['receipt-id', receipt]), this.version ?? '1.2'));
  }

  /** Stops reading until a matching resume(): while a hook runs, or a queue is full. */
  pause(): void {
    if (this.pauses++ === 0) {
      this.parser.pause();
      this.stream.pauseReading();
    }
  }

  resume(): void {
    if (--this.pauses === 0 && this.phase < Phase.Closing) {
      this.stream.resumeReading();
      try {
        this.parser.resume();
      } catch (err) {
        this.fail(err, this.currentFrame);
      }
    }
  }

  /** The store has too much to write: read nothing more until what is pending is durable. */
  waitForStore(store: Store): void {
    if (this.waitingForStore) return;
    this.waitingForStore = true;
    this.pause();
    store.sync(() => {
      this.waitingForStore = false;
      this.resume();
    });
  }

  /** A queue this connection sent to is full: stop reading its frames until it drains. */
  blockOn(queue: Queue): void {
    queue.block(this);
    if (!this.blockers.includes(queue)) this.blockers.push(queue);
    if (!this.blockedByQueue) {
      this.blockedByQueue = true;
      this.pause();
    }
  }

  /** `queue` has drained; reading resumes once no queue it waits on is full. */
  unblock(queue: Queue): void {
    const i = this.blockers.indexOf(queue);
    if (i !== -1) this.blockers.splice(i, 1);
    if (this.blockedByQueue && this.blockers.length === 0) {
      this.blockedByQueue = false;
      this.resume();
    }
  }

  // --- session ---------------------------------------------------------------------------

  /** CONNECT accepted: start heart-beats (HB-02) and read later frames under `version`. */
  established(
    version: StompVersion,
    login: string | undefined,
    beatOut: number,
    beatIn: number,
  ): void {
    this.phase = Phase.Connected;
    this.version = version;
    this.login = login;
    this.parser.version = version;
    clearTimeout(this.loginTimer);
    this.loginTimer = undefined;
    if (beatOut > 0) {
      // HB-03: some data at least every beatOut ms. Checking every half interval for
      // "nothing written since the last check" bounds the silence by beatOut without
      // reading the clock on every write. HB-07: this looks only at what we wrote.
      this.beatOutTimer = setInterval(
        () => {
          if (!this.wroteSinceBeat) this.write(HEARTBEAT);
          this.wroteSinceBeat = false;
        },
        Math.max(1, Math.floor(beatOut / 2)),
      );
    }
    if (beatIn > 0) {
      this.beatInLimit = Math.ceil(beatIn * this.broker.options.heartbeatGrace);
      this.lastRead = Date.now();
      this.beatInTimer = setTimeout(() => this.checkBeatIn(), this.beatInLimit);
    }
  }

  markConnecting(): void {
    this.phase = Phase.Connecting;
  }

  private checkBeatIn(): void {
    // While we have stopped reading (a full queue, a pending hook) the client's beats sit
    // unread in the socket: that silence is ours, not the client's.
    if (this.pauses > 0) this.lastRead = Date.now();
    const silent = Date.now() - this.lastRead;
    if (silent < this.beatInLimit) {
      this.beatInTimer = setTimeout(() => this.checkBeatIn(), this.beatInLimit - silent);
      return;
    }
    // Before calling the client dead, let the event loop read what may have arrived while
    // it was busy (timers run before the poll phase; immediates after it), so a stall of
    // our own is not taken for the client's silence.
    this.beatInRecheck = setImmediate(() => {
      const s = Date.now() - this.lastRead;
      if (s >= this.beatInLimit && this.pauses === 0) {
        this.fail(new StompError('HEARTBEAT_TIMEOUT', `silent for ${s} ms`));
      } else {
        this.beatInTimer = setTimeout(() => this.checkBeatIn(), Math.max(1, this.beatInLimit - s));
      }
    });
  }

  /** Graceful close after DISCONNECT: its receipt, then close once flushed (D-01). */
  disconnect(receipt: string | undefined, frame: Frame): void {
    if (this.phase >= Phase.Closing) return;
    this.closeReason = 'DISCONNECT';
    this.closeSession();
    if (receipt !== undefined) this.receipt(receipt, frame);
    // RECEIPTs still waiting on the store go out before the connection closes.
    if (this.receiptsWaiting > 0) this.endAfterReceipts = true;
    else this.endStream();
  }

  /**
   * Sends an ERROR, then closes once it is flushed (ER-01, ER-04). Carries `receipt-id`
   * when the offending frame asked for a receipt (ER-03), and the error's stable code.
   */
  fail(err: unknown, frame?: Frame, extraHeaders: string[] = []): void {
    if (this.phase >= Phase.Closing) return;
    const e =
      err instanceof StompError
        ? err
        : new StompError('INTERNAL_ERROR', err instanceof Error ? err.message : String(err));
    const log = this.broker.options.logger;
    const entry = { session: this.id, remote: this.remoteAddress, code: e.code, detail: e.detail };
    this.closeReason = e.code;
    if (e.code === 'INTERNAL_ERROR') log.error({ ...entry, err }, 'internal error');
    else if (e.code === 'SLOW_CONSUMER' || e.code === 'STORE_FAILED')
      log.warn(entry, 'sending ERROR');
    else log.info(entry, 'sending ERROR');
    this.broker.countError(e.code);
    const extra: string[] = [];
    const receipt = frame?.header('receipt');
    if (receipt !== undefined && frame!.command !== 'CONNECT' && frame!.command !== 'STOMP') {
      extra.push('receipt-id', receipt);
    }
    if (frame !== undefined) extra.push('command', frame.command);
    extra.push(...extraHeaders);
    const error = errorFrame(e, extra, this.version ?? '1.0');
    this.closeSession();
    const store = this.broker.store;
    if (this.receiptsWaiting > 0 && store !== undefined) {
      // RECEIPTs still waiting on the store go out first, then the ERROR.
      store.sync(() => {
        this.write(error);
        this.endStream();
      });
      return;
    }
    this.write(error);
    this.endStream();
  }

  /** Ends the session: releases its broker state now, closes the stream once flushed. */
  close(): void {
    if (this.phase >= Phase.Closing) return;
    this.closeReason ??= 'closed';
    this.closeSession();
    this.endStream();
  }

  /** Stops reading and gives back the session's state; the stream stays open for what is left to write. */
  private closeSession(): void {
    this.phase = Phase.Closing;
    this.stream.pauseReading();
    this.parser.pause();
    this.release();
  }

  private endStream(): void {
    if (this.phase === Phase.Closed) return;
    this.uncork();
    this.stream.end();
    // ER-04: give the client a moment to read the ERROR/RECEIPT and close itself.
    this.lingerTimer = setTimeout(() => this.stream.destroy(), this.broker.options.closeLinger);
  }

  /** Stream closed (by either side). */
  onClose(): void {
    if (this.phase !== Phase.Closing) {
      this.closeReason ??= 'peer closed';
      this.phase = Phase.Closing;
      this.release();
    }
    this.phase = Phase.Closed;
    clearTimeout(this.lingerTimer);
    this.broker.connectionClosed(this);
  }

  /**
   * Gives back what the session held: open transactions are aborted (T-04), and
   * unacknowledged messages return to the head of their queues in their original order,
   * to be redelivered (SB-07, D-03).
   */
  private release(): void {
    clearTimeout(this.loginTimer);
    clearInterval(this.beatOutTimer);
    clearTimeout(this.beatInTimer);
    clearImmediate(this.beatInRecheck);
    clearTimeout(this.slowTimer);
    this.transactions.clear();
    this.broker.releaseSubscriptions(this);
    for (const q of this.blockers) q.forget(this);
    this.blockers.length = 0;
  }

  // --- writing -----------------------------------------------------------------------------

  write(buf: Buffer): void {
    if (this.phase === Phase.Closed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      this.broker.scheduleUncork(this);
    }
    if (this.slabEnd > this.slabStart) this.flushSlab();
    this.wroteSinceBeat = true;
    this.stream.write(buf);
    // Past the high-water mark queue deliveries stop; ask to hear when it has drained.
    if (this.stream.bufferedAmount >= this.broker.options.highWaterMark) this.stream.waitDrain();
  }

  /** Bytes written and not yet handed to the operating system, the turn's slab included. */
  get unsentBytes(): number {
    return this.stream.bufferedAmount + (this.slabEnd - this.slabStart);
  }

  /**
   * A MESSAGE for this turn's slab (see `slab`), or written as a frame of its own when it
   * is the turn's first write, too large for a slab, or the transport needs whole frames.
   */
  private writeDelivery(shared: SharedMessage, head: string, ascii: boolean): void {
    const version = this.version!;
    if (!this.corked || this.wholeFrames || this.phase === Phase.Closed) {
      this.write(shared.encodeWith(version, head, ascii));
      return;
    }
    const headLength = ascii ? head.length : Buffer.byteLength(head);
    const size = shared.frameLength(version, headLength);
    if (size > SLAB_FRAME_MAX) {
      this.write(shared.encodeWith(version, head, ascii));
      return;
    }
    if (this.slab.length - this.slabEnd < size) this.newSlab(size);
    this.slabEnd = shared.encodeInto(this.slab, this.slabEnd, version, head, headLength, ascii);
    this.wroteSinceBeat = true;
    if (this.unsentBytes >= this.broker.options.highWaterMark) {
      this.flushSlab();
      this.stream.waitDrain();
    }
  }

  private flushSlab(): void {
    const n = this.slabEnd - this.slabStart;
    this.slabBytes += n;
    const part = this.slab.subarray(this.slabStart, this.slabEnd);
    // The stream holds what it is given until it is sent, and a view holds its whole slab
    // (or its share of Node's pool): a little of a slab is copied out, so that a consumer
    // that stops reading holds about what it has unsent, not a slab per turn.
    this.stream.write(n * 2 < this.slab.length ? Buffer.from(part) : part);
    this.slabStart = this.slabEnd;
  }

  /** Hands what the slab holds to the stream, then starts a slab with room for `need` bytes. */
  private newSlab(need: number): void {
    if (this.slabEnd > this.slabStart) this.flushSlab();
    this.slab = Buffer.allocUnsafe(Math.max(need, this.slabSize));
    this.slabStart = this.slabEnd = 0;
  }

  uncork(): void {
    if (this.corked) {
      if (this.slabEnd > this.slabStart) this.flushSlab();
      // The next turn's slab is sized after this one's output; none is kept in between,
      // so an idle connection holds no buffer.
      let size = SLAB_MIN;
      while (size < this.slabBytes && size < SLAB_MAX) size *= 2;
      this.slabSize = size;
      this.slabBytes = 0;
      this.slab = EMPTY;
      this.slabStart = this.slabEnd = 0;
      this.corked = false;
      this.stream.uncork();
    }
  }

  onDrain(): void {
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    if (this.phase === Phase.Connected) this.broker.serveConnection(this);
  }

  /** A queue delivery: counted, so that a redelivery says so (M-01..M-05). */
  deliver(sub: Subscription, message: Message): void {
    this.writeMessage(sub, message, ++message.deliveries);
    if (message.stored) this.broker.delivered(message, sub.clientAck);
  }

  private writeMessage(sub: Subscription, message: Message, n: number): void {
    // The delivery's own lines, written first so that they win (E-06). Only the subscription
    // id comes from a client; it is escaped once (sub.head). The message id (broker prefix
    // and sequence number) and the ack id (a counter) are plain ASCII, so no escaping check
    // or header list is needed per delivery.
    const own = (sub.head ??= headerText(
      sub.explicitId ? ['subscription', sub.id] : [],
      this.version!,
    ));
    let head = 'MESSAGE\n' + own.text + 'message-id:' + message.id + '\n';
    if (sub.clientAck) {
      // M-04: every client-ack MESSAGE carries an `ack` id, in every version. It is unique
      // per delivery on this connection and never contains ':', '\', CR or LF (E-07).
      const ackId = String(++this.ackCounter);
      head += 'ack:' + ackId + '\n';
      const d = new Delivery(message, sub, ackId);
      sub.unacked.set(message.id, d);
      sub.inFlight++;
      this.deliveries.set(ackId, d);
    }
    if (n > 1) head += 'redelivered:true\nx-delivery-count:' + (n - 1) + '\n';
    const shared = message.shared;
    if (shared.body.length < LARGE_BODY || this.wholeFrames) {
      this.writeDelivery(shared, head, own.ascii);
    } else {
      // A large body is written as it is, after its own head, rather than copied into one
      // buffer per delivery: the corked socket still sends head, body and NUL together.
      this.write(shared.encodeHeadWith(this.version!, head, own.ascii));
      this.write(shared.body);
      this.write(FRAME_END);
    }
  }

  /**
   * A topic delivery: there is nowhere to keep it, so it is written now. A subscriber that
   * cannot keep up (too many unsent bytes, or a full buffer that does not drain in time,
   * or too many unacknowledged messages) is disconnected as a slow consumer.
   */
  deliverBroadcast(sub: Subscription, message: Message): void {
    const o = this.broker.options;
    const buffered = this.unsentBytes;
    if (buffered > o.slowConsumerMaxBytes) {
      this.fail(
        new StompError('SLOW_CONSUMER', `${buffered} bytes unsent to subscription ${sub.id}`),
      );
      return;
    }
    if (sub.clientAck && sub.unacked.size >= o.maxUnackedPerSubscription) {
      this.fail(
        new StompError(
          'SLOW_CONSUMER',
          `${sub.unacked.size} unacknowledged messages on subscription ${sub.id}`,
        ),
      );
      return;
    }
    this.writeMessage(sub, message, 1);
    if (buffered > o.highWaterMark && this.slowTimer === undefined && o.slowConsumerTimeout > 0) {
      this.slowTimer = setTimeout(
        () =>
          this.fail(
            new StompError(
              'SLOW_CONSUMER',
              `send buffer did not drain in ${o.slowConsumerTimeout} ms`,
            ),
          ),
        o.slowConsumerTimeout,
      );
    }
  }

  /** Looks up an unacknowledged delivery the way the session's version names it (A-01..A-03). */
  findDelivery(frame: Frame): Delivery {
    if (this.version === '1.2') {
      const id = frame.header('id');
      if (id === undefined)
        throw new StompError('MISSING_HEADER', `${frame.command} needs id (STOMP 1.2)`);
      const d = this.deliveries.get(id);
      if (d === undefined) throw new StompError('UNKNOWN_MESSAGE', `ack id ${id}`);
      return d;
    }
    const messageId = frame.header('message-id');
    if (messageId === undefined)
      throw new StompError('MISSING_HEADER', `${frame.command} needs message-id`);
    const subId = frame.header('subscription');
    if (subId === undefined && this.version === '1.1') {
      throw new StompError('MISSING_HEADER', `${frame.command} needs subscription (STOMP 1.1)`);
    }
    if (subId !== undefined) {
      const d = this.subscriptions.get(subId)?.unacked.get(messageId);
      if (d !== undefined) return d;
    } else {
      // 1.0 ACKs name only the message: search this connection's subscriptions.
      for (const sub of this.subscriptions.values()) {
        const d = sub.unacked.get(messageId);
        if (d !== undefined) return d;
      }
    }
    throw new StompError('UNKNOWN_MESSAGE', `message-id ${messageId}`);
  }

  /** Removes a delivery from the unacknowledged set. */
  settle(d: Delivery): void {
    const sub = d.subscription;
    sub.unacked.delete(d.message.id);
    this.deliveries.delete(d.ackId);
    if (d.inTransaction) d.inTransaction = false;
    else sub.inFlight--;
  }

  /**
   * The deliveries an ACK or NACK of `d` covers: in `client` mode every earlier
   * unacknowledged message of the same subscription, and no other (SB-05, A-05);
   * in `client-individual` mode `d` alone (SB-06).
   */
  covered(d: Delivery): Delivery[] {
    const sub = d.subscription;
    if (sub.ackMode !== 'client') return [d];
    const out: Delivery[] = [];
    for (const x of sub.unacked.values()) {
      out.push(x);
      if (x === d) break;
    }
    return out;
  }
}
