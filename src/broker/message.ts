import { SharedMessage, type CommonParts } from '../protocol/encoder.js';

/** Header names only the broker may set on a MESSAGE; a SEND's copies are dropped (SD-06). */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'destination',
  'message-id',
  'subscription',
  'ack',
  'redelivered',
  'x-delivery-count',
  'transaction',
  'receipt',
  'content-length',
]);

/**
 * A message as the broker holds it. The encoded common part (SharedMessage) is made
 * once and shared by every delivery, to every subscriber of a topic.
 */
export class Message {
  /** Broker-wide arrival order; a queue's order on disk. */
  readonly seq: number;
  readonly id: string;
  readonly destination: string;
  readonly shared: SharedMessage;
  /** Times this message has been handed to a subscriber. */
  deliveries = 0;
  /** Written to the store and not yet removed from it. */
  stored = false;

  /**
   * `plain`: no header needs escaping (Frame.plain), so encoding skips the checks. `parts`:
   * encoded common parts it may share with its producer's other messages (CommonCache).
   */
  constructor(
    seq: number,
    id: string,
    destination: string,
    headers: string[],
    body: Buffer,
    plain = false,
    parts?: CommonParts,
  ) {
    this.seq = seq;
    this.id = id;
    this.destination = destination;
    this.shared = new SharedMessage(headers, body, plain, parts);
  }

  get size(): number {
    return this.shared.body.length + 64;
  }

  get persistent(): boolean {
    const h = this.shared.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'persistent') return h[i + 1] !== 'false';
    return true;
  }
}
