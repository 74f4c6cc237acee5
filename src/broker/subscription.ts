import type { Connection } from './connection.js';
import type { Destination } from './destination.js';
import type { Message } from './message.js';
import type { HeaderText } from '../protocol/encoder.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/** A message handed to a client-acking subscription and not yet acknowledged. */
export class Delivery {
  readonly message: Message;
  readonly subscription: Subscription;
  readonly ackId: string;
  /** Acknowledged inside a transaction that has not ended yet (T-06). */
  inTransaction = false;

  constructor(message: Message, subscription: Subscription, ackId: string) {
    this.message = message;
    this.subscription = subscription;
    this.ackId = ackId;
  }
}

export class Subscription {
  readonly id: string;
  /** 1.0 allows SUBSCRIBE without id (SB-02); its MESSAGEs then carry no `subscription`. */
  readonly explicitId: boolean;
  readonly destination: Destination;
  readonly connection: Connection;
  readonly ackMode: AckMode;
  /** Most unacknowledged messages at once; Infinity for auto (flow is then by socket buffer). */
  readonly prefetch: number;
  /** Unacknowledged deliveries by message id, in delivery order (what `client` acks cumulate over). */
  readonly unacked = new Map<string, Delivery>();
  /** Unacknowledged deliveries that count against the prefetch: those not acked in an open transaction. */
  inFlight = 0;
  active = true;
  /** This subscription's own MESSAGE header line, encoded for its connection's version once. */
  head: HeaderText | undefined = undefined;

  constructor(
    connection: Connection,
    id: string,
    explicitId: boolean,
    destination: Destination,
    ackMode: AckMode,
    prefetch: number,
  ) {
    this.connection = connection;
    this.id = id;
    this.explicitId = explicitId;
    this.destination = destination;
    this.ackMode = ackMode;
    this.prefetch = prefetch;
  }

  get clientAck(): boolean {
    return this.ackMode !== 'auto';
  }

  /** Can take another queue message now. */
  get ready(): boolean {
    return this.active && this.inFlight < this.prefetch && this.connection.canTakeMessages;
  }
}
