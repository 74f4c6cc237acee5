/**
 * A STOMP frame. Headers are kept in wire order with repeats, as a flat array of
 * alternating names and values ([name0, value0, name1, value1, ...]): it costs one
 * allocation per frame instead of one per header. Lookups return the first occurrence,
 * which is the one that counts (E-06).
 */
export class Frame {
  command: string;
  headers: string[];
  body: Buffer;
  /**
   * Every header name and value is ASCII without ':', '\\', CR or LF, so it is
   * written the same in every version, without escaping (E-04). The parser knows it from its
   * one pass over the bytes; a frame built otherwise says false and is checked when encoded.
   */
  readonly plain: boolean;

  constructor(command: string, headers: string[] = [], body: Buffer = EMPTY, plain = false) {
    this.command = command;
    this.headers = headers;
    this.body = body;
    this.plain = plain;
  }

  /** The first value of a header, or undefined (E-06). */
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
