import type { Frame } from '../protocol/frame.js';
import type { Store } from '../store/store.js';

/** What the receipt gate needs from its session. */
export interface ReceiptHost {
  /** The stream has closed: nothing can be sent any more. */
  readonly streamClosed: boolean;
  sendReceipt(receiptId: string): void;
  /** The store could not make the frame's writes durable. */
  storeFailed(err: Error, frame: Frame): void;
}

/**
 * Holds a session's RECEIPTs until what they acknowledge is durable. A RECEIPT for a frame
 * that wrote to the store (a persistent SEND, an ACK that removes a stored message) is sent
 * only once the store has committed that write; and since a RECEIPT also acknowledges every
 * earlier frame, and receipts go out in frame order (STOMP 1.2, "RECEIPT"), once one waits
 * every later one waits behind it.
 */
export class ReceiptGate {
  private readonly store: Store | undefined;
  private readonly host: ReceiptHost;
  /** Store writes made by the session's frames, and how many of them a completed sync covers. */
  private writes = 0;
  private writesSynced = 0;
  private waiting = 0;
  private onIdle: (() => void) | undefined;

  constructor(store: Store | undefined, host: ReceiptHost) {
    this.store = store;
    this.host = host;
  }

  /** One of the session's frames wrote to the store. */
  noteStoreWrite(): void {
    this.writes++;
  }

  /** Sends a RECEIPT now, or once the writes of the frames before it are durable. */
  receipt(receiptId: string, frame: Frame): void {
    const store = this.store;
    const writes = this.writes;
    if (store === undefined || (writes === this.writesSynced && this.waiting === 0)) {
      this.host.sendReceipt(receiptId);
      return;
    }
    this.waiting++;
    store.sync((err) => {
      this.waiting--;
      if (this.host.streamClosed) return;
      if (err !== undefined) {
        this.host.storeFailed(err, frame);
        return;
      }
      if (writes > this.writesSynced) this.writesSynced = writes;
      this.host.sendReceipt(receiptId);
      if (this.waiting === 0 && this.onIdle !== undefined) {
        const then = this.onIdle;
        this.onIdle = undefined;
        then();
      }
    });
  }

  /**
   * Runs `then` once no RECEIPT is waiting: now, or right after the last waiting one has
   * been sent. (If the store fails instead, the host's storeFailed ends the session.)
   */
  whenIdle(then: () => void): void {
    if (this.waiting === 0) then();
    else this.onIdle = then;
  }
}
