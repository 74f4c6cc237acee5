import { StompError } from '../errors.js';
import type { Frame } from '../protocol/frame.js';
import type { Delivery } from './subscription.js';

/** An ACK or NACK held by a transaction. */
export type AckOp =
  { kind: 'ack'; delivery: Delivery } | { kind: 'nack'; delivery: Delivery; requeue: boolean };

/** What a transaction does at COMMIT, in the order the client sent it. */
export type TransactionOp = { kind: 'send'; destination: string; frame: Frame } | AckOp;

/**
 * A session's open transactions and the operations each holds until COMMIT or ABORT
 * (STOMP 1.2, "BEGIN", "COMMIT", "ABORT"). Only the bookkeeping: the session carries the
 * operations out.
 */
export class Transactions {
  private readonly open = new Map<string, TransactionOp[]>();

  get size(): number {
    return this.open.size;
  }

  begin(tx: string): void {
    if (this.open.has(tx)) throw new StompError('DUPLICATE_TRANSACTION', tx);
    this.open.set(tx, []);
  }

  /** The operations of an open transaction, to add to. */
  ops(tx: string): TransactionOp[] {
    const ops = this.open.get(tx);
    if (ops === undefined) throw new StompError('UNKNOWN_TRANSACTION', tx);
    return ops;
  }

  /** Ends a transaction (COMMIT or ABORT) and returns its operations. */
  end(tx: string): TransactionOp[] {
    const ops = this.ops(tx);
    this.open.delete(tx);
    return ops;
  }

  /** The session ends: open transactions are dropped, as if aborted (STOMP 1.2, "DISCONNECT"). */
  clear(): void {
    this.open.clear();
  }
}
