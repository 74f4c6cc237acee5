import { StompError } from '../errors.js';
import { encodeError, encodeFrame, encodeLines } from '../protocol/encoder.js';
import { Frame } from '../protocol/frame.js';
import { FrameParser, type ParserHandler } from '../protocol/parser.js';
import type { StompVersion } from '../protocol/version.js';
import type { Engine } from './engine.js';
import { dispatchFrame, SELF_RECEIPTING } from './handlers.js';
import { Heartbeats, type HeartbeatHost } from './heartbeat.js';
import { MessageTemplate, type Message } from './message.js';
import type { ConnectionInfo } from './options.js';
import { Output } from './output.js';
import { ReadGate, type Reader } from './read-gate.js';
import { ReceiptGate, type ReceiptHost } from './receipts.js';
import type { ByteStream, StreamHandler } from './stream.js';
import { SubscriptionList } from './subscription-list.js';
import type { Consumer, Subscription } from './subscription.js';
import { Transactions } from './transactions.js';

const enum Phase {
  /** Waiting for CONNECT. */
  New,
  /** CONNECT received, an async authenticate hook deciding. */
  Authenticating,
  Connected,
  /** ERROR or DISCONNECT handled: nothing more is read. */
  Closing,
  Closed,
}

/**
 * One STOMP session over one byte stream: it parses frames, hands each to its command's
 * handler (handlers.ts), and holds the session's own state. The engine reaches it only
 * through Consumer, to write a MESSAGE or to end it.
 */
export class Session
  implements
    ParserHandler,
    StreamHandler,
    ConnectionInfo,
    Consumer,
    HeartbeatHost,
    Reader,
    ReceiptHost
{
  readonly id: string;
  readonly transport: string;
  readonly remoteAddress: string;
  readonly certificateLogin: string | undefined;
  readonly engine: Engine;
  readonly stream: ByteStream;
  readonly parser: FrameParser;
  readonly output: Output;
  readonly subscriptions: SubscriptionList;
  readonly reading: ReadGate;
  readonly receipts: ReceiptGate;
  private readonly heartbeats: Heartbeats;
  version: StompVersion | undefined;
  login: string | undefined;
  /** Why the session ended, for the log: an error code, DISCONNECT, or 'peer closed'. */
  closeReason: string | undefined;
  /** The frame being handled, for `receipt-id` on an ERROR it causes (STOMP 1.2, "ERROR"). */
  currentFrame: Frame | undefined;
  private phase = Phase.New;
  private ending = false;
  private loginTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  private lastSend: MessageTemplate | undefined;
  private openTransactions: Transactions | undefined;

  constructor(engine: Engine, stream: ByteStream, id: string) {
    this.engine = engine;
    this.stream = stream;
    this.id = id;
    this.transport = stream.transport;
    this.remoteAddress = stream.remoteAddress;
    this.certificateLogin = stream.peerLogin;
    const o = engine.options;
    this.output = new Output(stream, engine.flusher, o.highWaterMark);
    this.subscriptions = new SubscriptionList(this);
    this.reading = new ReadGate(this);
    this.receipts = new ReceiptGate(engine.storage.store, this);
    this.heartbeats = new Heartbeats(this);
    this.parser = new FrameParser(this, o); // the frame limits and decodeConnectEscapes
    stream.attach(this);
    // A connection that never sends CONNECT is closed (README, "Behaviour worth knowing").
    if (o.loginTimeout > 0) {
      this.loginTimer = setTimeout(
        () => this.fail(new StompError('LOGIN_TIMEOUT')),
        o.loginTimeout,
      );
    }
  }

  get connected(): boolean {
    return this.phase === Phase.Connected;
  }

  get closing(): boolean {
    return this.phase >= Phase.Closing;
  }

  get streamClosed(): boolean {
    return this.phase === Phase.Closed;
  }

  get readingPaused(): boolean {
    return this.reading.paused;
  }

  /** Open transactions; made at the first that needs them, as most sessions never begin one. */
  get transactions(): Transactions {
    return (this.openTransactions ??= new Transactions());
  }

  /** What this producer's next message may share with its last one; made at its first SEND. */
  get template(): MessageTemplate {
    return (this.lastSend ??= new MessageTemplate());
  }

  // --- reading ---------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.phase >= Phase.Closing) return;
    this.heartbeats.read();
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(err, this.currentFrame);
      return;
    }
    this.reading.counted(chunk.length);
  }

  onHeartbeat(): void {
    // Any data counts as a beat; heartbeats.read() was told when the chunk arrived.
  }

  onFrame(frame: Frame): void {
    // Nothing after DISCONNECT or ERROR is processed.
    if (this.phase >= Phase.Closing) return;
    this.currentFrame = frame;
    try {
      const pending = dispatchFrame(this, frame);
      if (pending !== undefined) {
        // An async hook: later frames wait until this one is done, so that frames are
        // handled, and receipts sent, strictly in order (STOMP 1.2, "RECEIPT").
        this.reading.pause();
        pending.then(
          () => {
            if (this.phase >= Phase.Closing) return;
            this.finishFrame(frame);
            this.reading.resume();
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
      if (receipt !== undefined) this.receipts.receipt(receipt, frame);
    }
  }

  stopReading(): void {
    this.parser.pause();
    this.stream.pauseReading();
  }

  startReading(): void {
    if (this.phase >= Phase.Closing) return;
    this.stream.resumeReading();
    try {
      this.parser.resume();
    } catch (err) {
      this.fail(err, this.currentFrame);
    }
  }

  // --- session phases --------------------------------------------------------------------

  /** An async authenticate hook is deciding on CONNECT. */
  enterAuthenticating(): void {
    this.phase = Phase.Authenticating;
  }

  /**
   * CONNECT accepted: later frames are read under `version`, and heart-beats start
   * (`sendEvery`/`expectEvery` as negotiated, 0 for off).
   */
  enterConnected(
    version: StompVersion,
    login: string | undefined,
    sendEvery: number,
    expectEvery: number,
  ): void {
    this.phase = Phase.Connected;
    this.version = version;
    this.login = login;
    this.parser.version = version;
    clearTimeout(this.loginTimer);
    this.loginTimer = undefined;
    this.heartbeats.start(sendEvery, expectEvery, this.engine.options.heartbeatGrace);
  }

  heartbeatTimeout(ms: number): void {
    this.fail(new StompError('HEARTBEAT_TIMEOUT', `silent for ${ms} ms`));
  }

  sendReceipt(receiptId: string): void {
    this.output.write(
      encodeFrame(new Frame('RECEIPT', ['receipt-id', receiptId]), this.version ?? '1.2'),
    );
  }

  storeFailed(err: Error, frame: Frame): void {
    this.engine.options.logger.error({ session: this.id, err }, 'store commit failed');
    if (this.phase >= Phase.Closing) this.endStream();
    else this.fail(new StompError('STORE_FAILED', err.message), frame);
  }

  /** DISCONNECT: its RECEIPT and those still waiting on the store, then close (STOMP 1.2, "DISCONNECT"). */
  disconnect(frame: Frame): void {
    if (this.phase >= Phase.Closing) return;
    this.closeReason = 'DISCONNECT';
    this.closeSession();
    const receipt = frame.header('receipt');
    if (receipt !== undefined) this.receipts.receipt(receipt, frame);
    this.receipts.whenIdle(() => this.endStream());
  }

  /**
   * Sends an ERROR, then closes once it is flushed (STOMP 1.2, "ERROR"). It carries
   * `receipt-id` when the offending frame asked for a receipt, and the error's stable code.
   */
  fail(err: unknown, frame?: Frame, extraHeaders: readonly string[] = []): void {
    if (this.phase >= Phase.Closing) return;
    const e =
      err instanceof StompError
        ? err
        : new StompError('INTERNAL_ERROR', err instanceof Error ? err.message : String(err));
    this.closeReason = e.code;
    this.engine.reportError(this, e, err);
    const extra: string[] = [];
    const receipt = frame?.header('receipt');
    if (receipt !== undefined && frame!.command !== 'CONNECT' && frame!.command !== 'STOMP') {
      extra.push('receipt-id', receipt);
    }
    if (frame !== undefined) extra.push('command', frame.command);
    extra.push(...extraHeaders);
    const error = encodeError(e, extra, this.version ?? '1.0');
    this.closeSession();
    // RECEIPTs still waiting on the store go out first, then the ERROR.
    this.receipts.whenIdle(() => {
      this.output.write(error);
      this.endStream();
    });
  }

  /** Closes at once, dropping what is unsent (a shutdown that timed out). */
  destroy(): void {
    this.stream.destroy();
  }

  /** Stops reading and gives back the session's state; the stream stays open for what is left to write. */
  private closeSession(): void {
    this.phase = Phase.Closing;
    this.stopReading();
    this.release();
  }

  private endStream(): void {
    if (this.phase === Phase.Closed || this.ending) return;
    this.ending = true;
    this.output.uncork();
    this.stream.end();
    // Give the client a moment to read the ERROR or RECEIPT and close itself (STOMP 1.2,
    // "Connection Lingering").
    this.lingerTimer = setTimeout(() => this.stream.destroy(), this.engine.options.closeLinger);
  }

  /** The stream closed (by either side). */
  onClose(): void {
    if (this.phase !== Phase.Closing) {
      this.closeReason ??= 'peer closed';
      this.phase = Phase.Closing;
      this.release();
    }
    this.phase = Phase.Closed;
    this.output.close();
    clearTimeout(this.lingerTimer);
    this.engine.sessionClosed(this);
  }

  /**
   * Gives back what the session held: open transactions are dropped, and unacknowledged
   * messages return to the head of their queues in their original order, to be redelivered.
   */
  private release(): void {
    clearTimeout(this.loginTimer);
    clearTimeout(this.slowTimer);
    this.heartbeats.stop();
    this.openTransactions?.clear();
    this.engine.releaseAll(this.subscriptions);
    this.reading.leaveQueues();
  }

  // --- delivering (Consumer) ----------------------------------------------------------------

  /** Open, and its send buffer below the high-water mark (flow control for queues). */
  get canTakeMessages(): boolean {
    return (
      this.phase === Phase.Connected && this.output.unsentBytes < this.engine.options.highWaterMark
    );
  }

  get unsentBytes(): number {
    return this.output.unsentBytes;
  }

  onDrain(): void {
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    if (this.phase === Phase.Connected) this.engine.serveDrained(this.subscriptions);
  }

  writeMessage(
    sub: Subscription,
    message: Message,
    ackId: string | undefined,
    deliveryCount: number,
  ): void {
    // The delivery's own lines come first, so that they win over a sender's copies (STOMP
    // 1.2, "Repeated Header Entries"). Only the subscription id comes from a client, and it
    // is escaped once; the message id (broker prefix and sequence number) and the ack id
    // (a counter) are plain ASCII, so no escaping check or header list is needed here.
    const version = this.version!;
    const own = (sub.ownLines ??= encodeLines(
      sub.explicitId ? ['subscription', sub.id] : [],
      version,
    ));
    let lines = 'MESSAGE\n' + own.text + 'message-id:' + message.id + '\n';
    // Every client-ack MESSAGE carries an `ack` id, in every version.
    if (ackId !== undefined) lines += 'ack:' + ackId + '\n';
    if (deliveryCount > 1)
      lines += 'redelivered:true\nx-delivery-count:' + (deliveryCount - 1) + '\n';
    this.output.writeMessage(message.shared, version, lines, own.ascii);
  }

  expectDrainWithin(ms: number): void {
    if (this.slowTimer !== undefined) return;
    this.slowTimer = setTimeout(
      () => this.fail(new StompError('SLOW_CONSUMER', `send buffer did not drain in ${ms} ms`)),
      ms,
    );
  }
}
