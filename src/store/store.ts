/**
 * What must outlive a connection, and a broker restart: the messages of each queue in
 * order, and how often each was delivered. Topic messages are never stored.
 *
 * The interface is shaped for group commit and for networked stores (Redis, later):
 * writes are buffered and return nothing; `sync` says when everything written before it
 * is durable; reads are async. The broker never waits for a write on its hot path: it
 * only holds a RECEIPT until `sync` reports, because a RECEIPT says the frame has been
 * processed, which for a persistent SEND coilmq takes to mean stored (STOMP 1.2, "RECEIPT").
 */
export interface StoredMessage {
  /** Broker-wide order of arrival; queue order is seq order. Unique, never reused. */
  seq: number;
  /** The STOMP message-id. */
  id: string;
  queue: string;
  /** Headers as a flat [name, value, ...] list, destination first, as on MESSAGE. */
  headers: string[];
  body: Buffer;
  /** Times the message has been handed to a consumer; > 0 means the next delivery is a redelivery. */
  deliveries: number;
}

export interface StoreContents {
  /** Queues holding messages, with how many each holds. */
  queues: Array<{ name: string; count: number }>;
  /** Highest seq ever stored (0 if none): the broker continues numbering after it. */
  maxSeq: number;
}

export interface Store {
  /** Opens or creates the store. Rejects, saying why, if it cannot be used. */
  open(): Promise<StoreContents>;
  /** Adds a message (buffered: durable once a later `sync` reports). */
  add(message: StoredMessage): void;
  /** Removes a message: it was acknowledged, or consumed by an auto-ack subscription. */
  remove(seq: number): void;
  /** Records that a message has been delivered `deliveries` times. */
  setDeliveries(seq: number, deliveries: number): void;
  /**
   * Calls `done` once every write made before this call is durable, or with the error
   * that stopped it. Callbacks run in the order they were registered.
   */
  sync(done: (err?: Error) => void): void;
  /** Up to `limit` stored messages of `queue` with seq > afterSeq, in seq order (committed writes only). */
  load(queue: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Bytes of message bodies accepted by add() and not yet durable, if the store knows. The
   * broker pauses producers while it exceeds maxStorePendingBytes.
   */
  readonly pendingBytes?: number;
  /** Commits what is pending and releases every handle. */
  close(): Promise<void>;
}
