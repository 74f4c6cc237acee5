/**
 * A STOMP frame. Headers are kept in wire order with repeats, as a flat array of
 * alternating names and values ([name0, value0, name1, value1, ...]): it costs one
 * allocation per frame instead of one per header. Lookups return the first occurrence,
 * which is the one that counts (STOMP 1.2, "Repeated Header Entries").
 */
export class Frame {
  command: string;
  headers: string[];
  body: Buffer;
  /**
   * True: no header needs escaping in any version. Every name and value is known to be
   * ASCII without ':', '\\', CR or LF, so it is written as it is in every version (STOMP
   * 1.1+, "Value Encoding") and the encoder skips its checks. False: not known, and the
   * encoder checks each header (it does not mean that some header needs escaping). The
   * parser knows it from its one pass over the bytes; a frame built otherwise says false.
   * Says nothing about the body.
   */
  readonly plain: boolean;

  constructor(command: string, headers: string[] = [], body: Buffer = EMPTY, plain = false) {
    this.command = command;
    this.headers = headers;
    this.body = body;
    this.plain = plain;
  }

  /** The first value of a header, or undefined (STOMP 1.2, "Repeated Header Entries"). */
  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }

  has(name: string): boolean {
    return this.header(name) !== undefined;
  }

  /** Headers as [name, value] pairs, repeats included, in order. */
  entries(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.headers.length; i += 2)
      out.push([this.headers[i]!, this.headers[i + 1]!]);
    return out;
  }

  /** Builds a frame from a plain object of headers (convenient for tests and tools). */
  static of(command: string, headers: Record<string, string> = {}, body?: Buffer | string): Frame {
    const flat: string[] = [];
    for (const k of Object.keys(headers)) flat.push(k, headers[k]!);
    return new Frame(command, flat, typeof body === 'string' ? Buffer.from(body) : (body ?? EMPTY));
  }
}

export const EMPTY = Buffer.alloc(0);
