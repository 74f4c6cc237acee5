import { CommonParts, SharedMessage } from '../protocol/encoder.js';
import type { Frame } from '../protocol/frame.js';
import type { StoredMessage } from '../store/store.js';

/**
 * Header names only the broker may set on a MESSAGE; a SEND's copies are dropped, so that a
 * client cannot forge them (STOMP 1.2, "MESSAGE").
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
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
   * encoded common parts it may share with its producer's other messages (MessageTemplate).
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

/**
 * A message made from a SEND: `destination` first, then every user header in order (STOMP
 * 1.2, "SEND": they are passed on), without the reserved ones. `template` is the producer's
 * memory of its last SEND (see MessageTemplate).
 */
export function messageFromSend(
  seq: number,
  id: string,
  destination: string,
  f: Frame,
  template: MessageTemplate,
): Message {
  // The destination comes from the frame's headers, so it is plain when they all are.
  const plain = f.plain;
  if (plain && template.reuse(f.headers, destination, f.body.length)) {
    return new Message(seq, id, destination, template.headers, f.body, true, template.parts);
  }
  const headers = ['destination', destination];
  const h = f.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (!RESERVED_HEADERS.has(h[i]!)) headers.push(h[i]!, h[i + 1]!);
  }
  const parts = plain
    ? template.remember(f.headers, destination, f.body.length, headers)
    : undefined;
  return new Message(seq, id, destination, headers, f.body, plain, parts);
}

/** A message brought back from the store. */
export function messageFromStore(m: StoredMessage): Message {
  const message = new Message(m.seq, m.id, m.queue, m.headers, m.body);
  message.deliveries = m.deliveries;
  message.stored = true;
  return message;
}

/**
 * What a producer's next message can share with its last one. A producer's messages usually
 * differ only in their bodies: when a SEND has the same headers as the last (the same
 * strings: the parser hands out one string for a repeated value), the same body length,
 * and nothing that needs escaping, its message gets the same header list and the same
 * encoded common part, made once. Holds no body.
 */
export class MessageTemplate {
  private frameHeaders: readonly string[] = [];
  private destination = '';
  private bodyLength = -1;
  /** The header list and common parts of the last message (valid after reuse() said true). */
  headers: string[] = [];
  parts: CommonParts = new CommonParts();

  /** True when a SEND is like the last one: it may take `headers` and `parts` as they are. */
  reuse(frameHeaders: readonly string[], destination: string, bodyLength: number): boolean {
    if (
      bodyLength !== this.bodyLength || // -1 until a SEND is remembered
      destination !== this.destination ||
      !sameList(frameHeaders, this.frameHeaders)
    ) {
      return false;
    }
    this.parts.shared = true;
    return true;
  }

  /** Remembers a plain SEND and the header list made from it; returns its new common parts. */
  remember(
    frameHeaders: readonly string[],
    destination: string,
    bodyLength: number,
    headers: string[],
  ): CommonParts {
    this.frameHeaders = frameHeaders;
    this.destination = destination;
    this.bodyLength = bodyLength;
    this.headers = headers;
    this.parts = new CommonParts();
    return this.parts;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
