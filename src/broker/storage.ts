import type { Store } from '../store/store.js';
import type { QueueStorage } from './destination.js';
import { messageFromStore, type Message } from './message.js';
import type { Logger } from './options.js';

/**
 * The engine's side of the store: what is written for a queue message over its life (added,
 * its deliveries counted, removed once consumed) and how a queue reads back what it left on
 * disk. Without a store every method is a no-op: nothing is ever marked stored.
 */
export class MessageStorage implements QueueStorage {
  readonly store: Store | undefined;
  private readonly logger: Logger;
  private readonly maxPendingBytes: number;

  constructor(store: Store | undefined, logger: Logger, maxPendingBytes: number) {
    this.store = store;
    this.logger = logger;
    this.maxPendingBytes = maxPendingBytes;
  }

  /** Writes a queue message (durable once a later sync reports). */
  add(message: Message): void {
    this.store!.add({
      seq: message.seq,
      id: message.id,
      queue: message.destination,
      headers: message.shared.headers as string[],
      body: message.shared.body,
      deliveries: 0,
    });
    message.stored = true;
  }

  /** The disk is slower than the producers: more is waiting to be written than allowed. */
  get behind(): boolean {
    const pending = this.store?.pendingBytes;
    return pending !== undefined && pending > this.maxPendingBytes;
  }

  /**
   * The message is no longer needed: acknowledged, auto-consumed or dropped. Returns whether
   * that wrote to the store (a RECEIPT for the frame that caused it then waits for the disk).
   */
  consumed(message: Message): boolean {
    if (!message.stored) return false;
    message.stored = false;
    this.store!.remove(message.seq);
    return true;
  }

  /** A delivery of a stored message: count it on disk too, so that a restart says redelivered. */
  delivered(message: Message, clientAck: boolean): void {
    if (!message.stored) return;
    if (clientAck) this.store!.setDeliveries(message.seq, message.deliveries);
    else this.consumed(message);
  }

  /** Reads messages a queue left on disk, once the writes before are durable. */
  page(queue: string, afterSeq: number, limit: number, done: (m: Message[] | Error) => void): void {
    const store = this.store!;
    const failed = (err: Error): void => {
      this.logger.error({ queue, err }, 'store read failed');
      done(err);
    };
    store.sync((err) => {
      if (err !== undefined) return failed(err);
      store.load(queue, afterSeq, limit).then(
        (list) => done(list.map(messageFromStore)),
        (e: unknown) => failed(e instanceof Error ? e : new Error(String(e))),
      );
    });
  }
}
