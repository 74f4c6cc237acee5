import { StompError } from '../errors.js';
import { DEFAULT_LIMITS, type FrameLimits } from '../limits.js';
import { decodeHeaderBytes } from './escape.js';
import { EMPTY, Frame } from './frame.js';
import { isUnescapedCommand, type StompVersion } from './version.js';

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const NUL = 0x00;

/** What the parser hands its frames and heart-beats to. */
export interface ParserHandler {
  onFrame(frame: Frame): void;
  /** A bare EOL between frames: a heart-beat (F-03, HB-03). */
  onHeartbeat(): void;
}

export interface ParserOptions extends Partial<FrameLimits> {
  /**
   * Decode escapes in CONNECT/STOMP/CONNECTED headers too. Off by default, as the spec
   * requires (E-05); a compatibility switch for clients that escape their passcodes.
   */
  decodeConnectEscapes?: boolean;
}

const enum State {
  Idle,
  IdleCr,
  Command,
  Headers,
  BodyLength,
  BodyNul,
  Trailer,
}

const DIGITS = /^[0-9]+$/;

/**
 * An incremental STOMP frame parser. Feed it chunks of any size, down to one byte; it
 * calls the handler once per complete frame and once per heart-beat. Every limit is
 * checked before the bytes it concerns are buffered, and every violation throws a
 * StompError with a stable code, after which the parser stays failed.
 *
 * `version` selects the rules: null until the session is connected (CONNECT rules:
 * no unescaping, CRLF accepted), then the negotiated version. It may change between
 * frames; pause() inside onFrame stops parsing until resume(), so a session can finish
 * negotiating before the next frame is read under the new version's rules.
 */
export class FrameParser {
  version: StompVersion | null = null;
  private readonly handler: ParserHandler;
  private readonly maxCommandLength: number;
  private readonly maxHeaderLineLength: number;
  private readonly maxHeaders: number;
  private readonly maxFrameSize: number;
  private readonly decodeConnectEscapes: boolean;

  private state = State.Idle;
  private failed: StompError | null = null;
  private paused = false;
  private pending: Buffer[] = [];

  // A line that spans chunks is gathered here; lines within one chunk are read in place.
  private line: Buffer = EMPTY;
  private lineLength = 0;

  private command = '';
  private headers: string[] = [];
  private frameBytes = 0;
  private body: Buffer = EMPTY;
  private bodyFilled = 0;
  private bodyParts: Buffer[] = [];
  private bodyPartsLength = 0;

  constructor(handler: ParserHandler, options: ParserOptions = {}) {
    this.handler = handler;
    this.maxCommandLength = options.maxCommandLength ?? DEFAULT_LIMITS.maxCommandLength;
    this.maxHeaderLineLength = options.maxHeaderLineLength ?? DEFAULT_LIMITS.maxHeaderLineLength;
    this.maxHeaders = options.maxHeaders ?? DEFAULT_LIMITS.maxHeaders;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_LIMITS.maxFrameSize;
    this.decodeConnectEscapes = options.decodeConnectEscapes ?? false;
  }

  /** Bytes held for the frame in progress (never more than the limits allow). */
  get bufferedBytes(): number {
    let n = this.lineLength + this.bodyPartsLength + this.bodyFilled;
    for (const p of this.pending) n += p.length;
    return n;
  }

  /** True between frames: nothing of a frame has been read yet. */
  get idle(): boolean {
    return this.state === State.Idle && this.pending.length === 0;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    while (!this.paused && this.pending.length > 0 && this.failed === null) {
      this.run(this.pending.shift()!);
    }
  }

  push(chunk: Buffer): void {
    if (this.failed !== null) throw this.failed;
    if (this.paused) {
      this.pending.push(chunk);
      return;
    }
    this.run(chunk);
  }

  private run(chunk: Buffer): void {
    try {
      this.parse(chunk);
    } catch (err) {
      if (err instanceof StompError) this.failed = err;
      throw err;
    }
  }

  private parse(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case State.Idle: {
          // F-03: any number of EOLs may follow a frame; each is a heart-beat.
          const b = chunk[pos]!;
          if (b === LF) {
            pos++;
            this.handler.onHeartbeat();
          } else if (b === CR) {
            pos++;
            this.state = State.IdleCr;
          } else {
            this.state = State.Command;
            this.frameBytes = 0;
          }
          break;
        }
        case State.IdleCr:
          if (chunk[pos] !== LF) throw new StompError('INVALID_EOL', 'CR between frames');
          pos++;
          this.state = State.Idle;
          this.handler.onHeartbeat();
          break;
        case State.Command:
        case State.Headers: {
          const limit =
            this.state === State.Command ? this.maxCommandLength + 1 : this.maxHeaderLineLength + 1;
          const lf = chunk.indexOf(LF, pos);
          const end = lf === -1 ? len : lf;
          // +1 allows the CR of a CRLF, which is not part of the line's content.
          if (this.lineLength + (end - pos) > limit) this.lineTooLong();
          if (lf === -1) {
            this.appendLine(chunk, pos, len);
            pos = len;
            break;
          }
          if (this.lineLength === 0) {
            this.onLine(chunk, pos, lf);
          } else {
            this.appendLine(chunk, pos, lf);
            this.onLine(this.line, 0, this.lineLength);
            this.lineLength = 0;
          }
          pos = lf + 1;
          break;
        }
        case State.BodyLength: {
          const want = this.body.length - this.bodyFilled;
          const n = want < len - pos ? want : len - pos;
          chunk.copy(this.body, this.bodyFilled, pos, pos + n);
          this.bodyFilled += n;
          pos += n;
          if (this.bodyFilled === this.body.length) this.state = State.Trailer;
          break;
        }
        case State.Trailer:
          // B-02: exactly content-length octets, then a NUL must follow (B-07).
          if (chunk[pos] !== NUL) throw new StompError('MISSING_NUL');
          pos++;
          this.emit(this.body);
          if (this.paused) return this.keep(chunk, pos);
          break;
        case State.BodyNul: {
          // B-03: without content-length the body ends at the first NUL.
          const nul = chunk.indexOf(NUL, pos);
          const end = nul === -1 ? len : nul;
          if (this.frameBytes + this.bodyPartsLength + (end - pos) > this.maxFrameSize) {
            throw new StompError('FRAME_TOO_LARGE', `more than ${this.maxFrameSize} bytes`);
          }
          if (nul === -1) {
            this.bodyParts.push(Buffer.from(chunk.subarray(pos, len)));
            this.bodyPartsLength += len - pos;
            pos = len;
            break;
          }
          let body: Buffer;
          if (this.bodyParts.length === 0) {
            body = end === pos ? EMPTY : Buffer.from(chunk.subarray(pos, end));
          } else {
            this.bodyParts.push(chunk.subarray(pos, end));
            body = Buffer.concat(this.bodyParts, this.bodyPartsLength + (end - pos));
            this.bodyParts = [];
            this.bodyPartsLength = 0;
          }
          pos = nul + 1;
          this.emit(body);
          if (this.paused) return this.keep(chunk, pos);
          break;
        }
      }
    }
  }

  private keep(chunk: Buffer, pos: number): void {
    if (pos < chunk.length) this.pending.unshift(chunk.subarray(pos));
  }

  private lineTooLong(): never {
    if (this.state === State.Command) {
      throw new StompError('COMMAND_TOO_LONG', `more than ${this.maxCommandLength} bytes`);
    }
    throw new StompError('HEADER_TOO_LONG', `more than ${this.maxHeaderLineLength} bytes`);
  }

  private appendLine(src: Buffer, start: number, end: number): void {
    const need = this.lineLength + (end - start);
    if (need > this.line.length) {
      let size = this.line.length === 0 ? 256 : this.line.length * 2;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.line.copy(grown, 0, 0, this.lineLength);
      this.line = grown;
    }
    src.copy(this.line, this.lineLength, start, end);
    this.lineLength = need;
  }

  /** One complete line, buf[start, end), without its LF. */
  private onLine(buf: Buffer, start: number, end: number): void {
    this.frameBytes += end - start + 1;
    if (this.frameBytes > this.maxFrameSize) {
      throw new StompError('FRAME_TOO_LARGE', `more than ${this.maxFrameSize} bytes`);
    }
    if (this.state === State.Command) {
      // F-02: the command line may end in CRLF. Commands never contain CR.
      if (end > start && buf[end - 1] === CR) end--;
      if (end - start > this.maxCommandLength) this.lineTooLong();
      this.command = buf.toString('latin1', start, end);
      this.headers = [];
      this.state = State.Headers;
      return;
    }
    // The blank line ends the headers; "\r" alone is accepted as blank in every version,
    // since no valid header line can consist of a lone CR.
    if (end === start || (end === start + 1 && buf[start] === CR)) return this.endHeaders();
    const version = this.version;
    // F-02: CRLF is an EOL in 1.2 (and for CONNECT, whose version is not yet known).
    // In 1.0 and 1.1 EOL is LF only, and a CR is an octet of the value.
    const crlf = version === null || version === '1.2';
    if (crlf && buf[end - 1] === CR) end--;
    if (end - start > this.maxHeaderLineLength) this.lineTooLong();
    if (this.headers.length >= this.maxHeaders * 2) {
      throw new StompError('TOO_MANY_HEADERS', `more than ${this.maxHeaders}`);
    }
    let colon = -1;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b === COLON) {
        colon = i;
        break;
      }
      if (b === CR && version === '1.2') throw new StompError('INVALID_EOL', 'CR in header name');
    }
    // F-09: split on the first colon; later colons belong to the value.
    if (colon <= start)
      throw new StompError('MALFORMED_HEADER', colon === -1 ? 'no colon' : 'empty name');
    const decode =
      version !== null && (this.decodeConnectEscapes || !isUnescapedCommand(this.command));
    const ver = decode ? version : null;
    if (version === '1.2') {
      for (let i = colon + 1; i < end; i++) {
        if (buf[i] === CR) throw new StompError('INVALID_EOL', 'CR in header value');
      }
    }
    let name = decodeHeaderBytes(buf, start, colon, ver);
    let value = decodeHeaderBytes(buf, colon + 1, end, ver);
    if (version === '1.0') {
      // F-10: 1.0-era peers wrote "name: value"; trimming is allowed for 1.0 only.
      name = name.trim();
      value = value.trim();
    }
    this.headers.push(name, value);
  }

  private endHeaders(): void {
    let contentLength = -1;
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === 'content-length') {
        // E-06: the first occurrence counts; B-07: it must be a non-negative integer.
        const v = h[i + 1]!;
        if (!DIGITS.test(v)) throw new StompError('INVALID_CONTENT_LENGTH', JSON.stringify(v));
        contentLength = v.length > 15 ? Number.MAX_SAFE_INTEGER : Number(v);
        break;
      }
    }
    if (contentLength < 0) {
      this.state = State.BodyNul;
      return;
    }
    // Checked before a single body byte is buffered.
    if (this.frameBytes + contentLength > this.maxFrameSize) {
      throw new StompError(
        'FRAME_TOO_LARGE',
        `content-length ${contentLength} exceeds ${this.maxFrameSize}`,
      );
    }
    this.body = contentLength === 0 ? EMPTY : Buffer.allocUnsafe(contentLength);
    this.bodyFilled = 0;
    this.state = contentLength === 0 ? State.Trailer : State.BodyLength;
  }

  private emit(body: Buffer): void {
    const frame = new Frame(this.command, this.headers, body);
    this.headers = [];
    this.body = EMPTY;
    this.bodyFilled = 0;
    this.frameBytes = 0;
    this.state = State.Idle;
    this.handler.onFrame(frame);
  }
}
