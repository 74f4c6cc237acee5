import { StompError } from '../errors.js';
import { DEFAULT_OPTIONS, type FrameLimits } from '../settings.js';
import { decodeHeaderBytes } from './escape.js';
import { EMPTY, Frame } from './frame.js';
import { isUnescapedCommand, type StompVersion } from './version.js';

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const NUL = 0x00;

/*
 * Header lines are read in one pass over their bytes (scanLine), which finds the LF and
 * notes everything the rest of the parse needs to know: the first colon, the first CR,
 * and whether the name or the value holds a backslash or a non-ASCII byte. Lines that
 * hold neither (nearly all of them) are decoded as latin1, which for ASCII equals UTF-8
 * and skips the escape handling; the others go through decodeHeaderBytes.
 *
 * BYTE_CLASS sorts bytes for that pass: 0 for the ordinary ones, so the common case is one
 * table load and one compare per byte. ESCAPED and NON_ASCII are bits, OR-ed into flags.
 */
const ESCAPED = 1;
const NON_ASCII = 2;
const IS_LF = 4;
const IS_CR = 8;
const IS_COLON = 16;
const BYTE_CLASS = new Uint8Array(256);
BYTE_CLASS[LF] = IS_LF;
BYTE_CLASS[CR] = IS_CR;
BYTE_CLASS[COLON] = IS_COLON;
BYTE_CLASS[BACKSLASH] = ESCAPED;
BYTE_CLASS.fill(NON_ASCII, 0x80);

/**
 * Strings that recur in nearly every frame (commands, the spec's header names and a few
 * common extensions), matched against the bytes in place: comparing a dozen bytes in JS
 * costs a fraction of decoding a new string, and frames then share one copy of each name.
 */
class Vocabulary {
  readonly words: readonly string[];
  /** Indexes into words of the words with n bytes are at byLength[n]. */
  private readonly byLength: Array<Array<{ bytes: Buffer; index: number }>> = [];

  constructor(words: readonly string[]) {
    this.words = words;
    words.forEach((text, index) => {
      while (this.byLength.length <= text.length) this.byLength.push([]);
      this.byLength[text.length]!.push({ bytes: Buffer.from(text, 'latin1'), index });
    });
  }

  /** The index of the word spelt by buf[start, end), or -1. */
  find(buf: Buffer, start: number, end: number): number {
    const n = end - start;
    if (n >= this.byLength.length) return -1;
    const words = this.byLength[n]!;
    for (let k = 0; k < words.length; k++) {
      const bytes = words[k]!.bytes;
      let i = 0;
      while (i < n && buf[start + i] === bytes[i]) i++;
      if (i === n) return words[k]!.index;
    }
    return -1;
  }
}

const COMMANDS = new Vocabulary([
  'CONNECT',
  'STOMP',
  'CONNECTED',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'ACK',
  'NACK',
  'DISCONNECT',
  'MESSAGE',
  'RECEIPT',
  'ERROR',
]);

const HEADER_NAMES = new Vocabulary([
  'accept-version',
  'host',
  'login',
  'passcode',
  'heart-beat',
  'version',
  'session',
  'server',
  'destination',
  'content-type',
  'content-length',
  'receipt',
  'receipt-id',
  'id',
  'ack',
  'subscription',
  'message-id',
  'transaction',
  'message',
  'persistent',
  'priority',
  'expires',
  'reply-to',
  'correlation-id',
]);

/** The names whose values FrameParser.recentValue never keeps, and the longest it keeps. */
const LOGIN = HEADER_NAMES.words.indexOf('login');
const PASSCODE = HEADER_NAMES.words.indexOf('passcode');
const RECENT_MAX = 256;

/** What the parser hands its frames and heart-beats to. */
export interface ParserHandler {
  onFrame(frame: Frame): void;
  /**
   * A bare EOL between frames: frames may be followed by any number of EOLs (STOMP 1.2,
   * "STOMP Frames"), and an EOL is what a peer with nothing else to send sends as a
   * heart-beat (STOMP 1.1+, "Heart-beating").
   */
  onHeartbeat(): void;
}

export interface ParserOptions extends Partial<FrameLimits> {
  /**
   * Decode escapes in CONNECT/STOMP/CONNECTED headers too. Off by default: those frames
   * are never escaped (STOMP 1.1+, "Value Encoding"). A compatibility switch for clients
   * that escape their passcodes anyway.
   */
  decodeConnectEscapes?: boolean;
}

/*
 * The last SEND's header block, remembered (see FrameParser.lastSendBytes): the most bytes
 * remembered, the misses in a row after which remembering pauses, and for how many frames.
 */
const LAST_SEND_MAX_BYTES = 512;
const LAST_SEND_MAX_MISSES = 4;
const LAST_SEND_PAUSE_FRAMES = 256;

const enum State {
  Idle,
  IdleCr,
  Command,
  Headers,
  BodyLength,
  BodyNul,
  Trailer,
}

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

  // What scanLine found in the line it last read (positions are -1 when absent).
  private colon = -1;
  private moreColons = false;
  private firstCr = -1;
  private nameFlags = 0;
  private valueFlags = 0;

  private command = '';
  private headers: string[] = [];
  /** No header of the frame so far needs escaping in any version (Frame.plain). */
  private plain = true;
  /**
   * The last value read for each header name of the vocabulary. A producer sends the same
   * destination, content-type or persistent flag frame after frame: comparing the bytes
   * with the last string is cheaper than decoding a new one, and a string used again keeps
   * its hash, so the broker's lookups by destination do not compute it anew.
   */
  private readonly recent: string[] = HEADER_NAMES.words.map(() => '');
  private frameBytes = 0;
  private body: Buffer = EMPTY;
  private bodyFilled = 0;
  private bodyParts: Buffer[] = [];
  /** The content-length of the frame being read, -1 for none (its body ends at a NUL). */
  private contentLength = -1;
  private bodyPartsLength = 0;

  constructor(handler: ParserHandler, options: ParserOptions = {}) {
    this.handler = handler;
    this.maxCommandLength = options.maxCommandLength ?? DEFAULT_OPTIONS.maxCommandLength;
    this.maxHeaderLineLength = options.maxHeaderLineLength ?? DEFAULT_OPTIONS.maxHeaderLineLength;
    this.maxHeaders = options.maxHeaders ?? DEFAULT_OPTIONS.maxHeaders;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_OPTIONS.maxFrameSize;
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
    // A header block that began in an earlier chunk is not in this one to be remembered.
    if (this.state === State.Command || this.state === State.Headers) {
      this.headerBlockSplit = true;
    }
    while (pos < len) {
      switch (this.state) {
        case State.Idle: {
          // Any number of EOLs may follow a frame (STOMP 1.2, "STOMP Frames"); each is a
          // heart-beat.
          const b = chunk[pos]!;
          if (b === LF) {
            pos++;
            this.handler.onHeartbeat();
          } else if (b === CR) {
            pos++;
            this.state = State.IdleCr;
          } else if (this.lastSendLength > 0 && this.reuseLastSendHeaders(chunk, pos, len)) {
            pos += this.lastSendLength;
          } else {
            this.state = State.Command;
            this.frameBytes = 0;
            this.frameStart = pos;
            this.headerBlockSplit = false;
          }
          break;
        }
        case State.IdleCr:
          // EOL = [CR] LF (STOMP 1.2, "Augmented BNF").
          if (chunk[pos] !== LF) throw new StompError('INVALID_EOL', 'CR between frames');
          pos++;
          this.state = State.Idle;
          this.handler.onHeartbeat();
          break;
        case State.Command:
        case State.Headers:
          pos =
            this.lineLength === 0
              ? this.readLines(chunk, pos, len)
              : this.gatherLine(chunk, pos, len);
          break;
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
          // Exactly content-length octets, then the NUL that still ends the frame (STOMP
          // 1.1+, "Header content-length").
          if (chunk[pos] !== NUL) throw new StompError('MISSING_NUL');
          pos++;
          this.emit(this.body);
          if (this.paused) return this.keep(chunk, pos);
          break;
        case State.BodyNul: {
          // Without content-length the body ends at the first NUL (STOMP 1.0, "MESSAGE").
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
    this.headerBlockSplit = true;
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

  /**
   * Reads the command and header lines that begin at chunk[pos], in place, until the
   * header section ends or the chunk does. A line cut off by the end of the chunk is kept
   * for gatherLine. Returns the position after the last line read.
   *
   * This is the parser's hot loop, kept apart from the rarer paths (gatherLine) so that
   * V8 optimises it on its own: code that handles both slows down for every line as soon
   * as one line has been split across chunks.
   */
  private readLines(chunk: Buffer, pos: number, len: number): number {
    do {
      // +1 allows the CR of a CRLF, which is not part of the line's content. Nothing
      // past the limit is looked at: a line that has not ended by then is too long.
      const limit = this.lineLimit();
      const stop = len - pos > limit ? pos + limit + 1 : len;
      const lf = this.scanLine(chunk, pos, stop);
      if (lf === -1) {
        if (stop - pos > limit) this.lineTooLong();
        this.appendLine(chunk, pos, len);
        return len;
      }
      this.onLine(chunk, pos, lf);
      pos = lf + 1;
    } while (pos < len && this.state === State.Headers);
    if (this.state > State.Headers && !this.headerBlockSplit) this.rememberSendHeaders(chunk, pos);
    return pos;
  }

  /*
   * A producer sends the same header block frame after frame (the command line, the header
   * lines and the blank line: same destination, same headers, same content-length). The
   * last SEND's header block read in one piece is kept (lastSend*), and a frame that starts
   * with exactly those bytes, under the same version, is known to parse to the same command
   * and headers: one native compare replaces reading its lines. Header blocks that keep
   * changing (a receipt id per frame, say) stop being remembered for a while after a few
   * misses, so they cost little.
   */
  /** The last SEND's header block as it arrived: its first lastSendLength bytes. */
  private lastSendBytes: Buffer = EMPTY;
  /** 0 when no header block is remembered. */
  private lastSendLength = 0;
  private lastSendHeaders: readonly string[] = [];
  private lastSendPlain = false;
  private lastSendContentLength = -1;
  /** The version it was read under: the same bytes may read differently under another. */
  private lastSendVersion: StompVersion | null = null;
  private lastSendMisses = 0;
  /** Frames to let go by without remembering, after too many misses. */
  private lastSendPause = 0;
  /** Where in the chunk the frame being read began. */
  private frameStart = 0;
  /** The header block of the frame being read spans chunks, so it cannot be remembered. */
  private headerBlockSplit = false;

  /**
   * If the frame at chunk[pos] starts with the last SEND's header block, takes that as
   * read and returns true.
   */
  private reuseLastSendHeaders(chunk: Buffer, pos: number, len: number): boolean {
    const n = this.lastSendLength;
    if (
      len - pos >= n &&
      this.version === this.lastSendVersion &&
      chunk.compare(this.lastSendBytes, 0, n, pos, pos + n) === 0
    ) {
      this.lastSendMisses = 0;
      this.command = 'SEND'; // only a SEND's header block is remembered
      this.headers = this.lastSendHeaders.slice();
      this.plain = this.lastSendPlain;
      this.frameBytes = n;
      this.startBody(this.lastSendContentLength);
      return true;
    }
    if (++this.lastSendMisses >= LAST_SEND_MAX_MISSES) {
      this.lastSendLength = 0;
      this.lastSendMisses = 0;
      this.lastSendPause = LAST_SEND_PAUSE_FRAMES;
    }
    return false;
  }

  /** Remembers the header block just read, chunk[frameStart, end), if it is a SEND's and small. */
  private rememberSendHeaders(chunk: Buffer, end: number): void {
    if (this.lastSendPause > 0) {
      this.lastSendPause--;
      return;
    }
    const n = end - this.frameStart;
    if (this.command !== 'SEND' || n > LAST_SEND_MAX_BYTES) return;
    if (this.lastSendBytes.length < n) this.lastSendBytes = Buffer.allocUnsafe(LAST_SEND_MAX_BYTES);
    chunk.copy(this.lastSendBytes, 0, this.frameStart, end);
    this.lastSendLength = n;
    this.lastSendHeaders = this.headers.slice();
    this.lastSendPlain = this.plain;
    this.lastSendContentLength = this.contentLength;
    this.lastSendVersion = this.version;
  }

  /** Continues a line that began in an earlier chunk; returns the position after it. */
  private gatherLine(chunk: Buffer, pos: number, len: number): number {
    const lf = chunk.indexOf(LF, pos);
    const end = lf === -1 ? len : lf;
    if (this.lineLength + (end - pos) > this.lineLimit()) this.lineTooLong();
    this.appendLine(chunk, pos, end);
    if (lf === -1) return len;
    this.scanLine(this.line, 0, this.lineLength);
    this.onLine(this.line, 0, this.lineLength);
    this.lineLength = 0;
    return lf + 1;
  }

  /** The most bytes the current line may have, its CR included. */
  private lineLimit(): number {
    return this.state === State.Command ? this.maxCommandLength + 1 : this.maxHeaderLineLength + 1;
  }

  /**
   * Reads buf[start, stop) up to the first LF and returns its position, or -1 if there is
   * none. Notes in this.colon, this.firstCr, this.nameFlags and this.valueFlags what
   * onLine needs, so no byte of a line is looked at twice on the common path.
   */
  private scanLine(buf: Buffer, start: number, stop: number): number {
    let colon = -1;
    let firstCr = -1;
    let flags = 0;
    let nameFlags = 0;
    let moreColons = false;
    let i = start;
    for (; i < stop; i++) {
      const c = BYTE_CLASS[buf[i]!]!;
      if (c === 0) continue;
      if (c === IS_LF) break;
      if (c === IS_COLON) {
        if (colon === -1) {
          colon = i;
          nameFlags = flags;
          flags = 0;
        } else moreColons = true;
      } else if (c === IS_CR) {
        if (firstCr === -1) firstCr = i;
      } else {
        flags |= c;
      }
    }
    this.colon = colon;
    this.moreColons = moreColons;
    this.firstCr = firstCr;
    this.nameFlags = colon === -1 ? flags : nameFlags;
    this.valueFlags = colon === -1 ? 0 : flags;
    return i < stop ? i : -1;
  }

  /** One complete line, buf[start, end), without its LF, just read by scanLine. */
  private onLine(buf: Buffer, start: number, end: number): void {
    this.frameBytes += end - start + 1;
    if (this.frameBytes > this.maxFrameSize) {
      throw new StompError('FRAME_TOO_LARGE', `more than ${this.maxFrameSize} bytes`);
    }
    if (this.state === State.Command) {
      // The command line may end in CRLF, whatever the version: CONNECT is read before
      // the version is known, and no command contains a CR.
      if (end > start && buf[end - 1] === CR) end--;
      if (end - start > this.maxCommandLength) this.lineTooLong();
      const known = COMMANDS.find(buf, start, end);
      this.command = known >= 0 ? COMMANDS.words[known]! : buf.toString('latin1', start, end);
      this.headers = [];
      this.plain = true;
      this.state = State.Headers;
      return;
    }
    // The blank line ends the headers; "\r" alone is accepted as blank in every version,
    // since no valid header line can consist of a lone CR.
    if (end === start || (end === start + 1 && buf[start] === CR)) return this.endHeaders();
    const version = this.version;
    // CRLF is an EOL in 1.2 (STOMP 1.2, "STOMP Frames"), and for CONNECT, whose version is
    // not yet known. In 1.0 and 1.1 EOL is LF only, and a CR is an octet of the value
    // (STOMP 1.1, "Augmented BNF").
    const crlf = version === null || version === '1.2';
    if (crlf && buf[end - 1] === CR) end--;
    if (end - start > this.maxHeaderLineLength) this.lineTooLong();
    if (this.headers.length >= this.maxHeaders * 2) {
      throw new StompError('TOO_MANY_HEADERS', `more than ${this.maxHeaders}`);
    }
    const colon = this.colon;
    // In 1.2 a CR that does not end the line is an error (the grammar has none in a name or
    // value: STOMP 1.2, "Augmented BNF"), reported for the name when it comes before the
    // first colon (or there is none), else after the colon check.
    const strayCr = version === '1.2' && this.firstCr !== -1 && this.firstCr < end;
    if (strayCr && (colon === -1 || this.firstCr < colon)) {
      throw new StompError('INVALID_EOL', 'CR in header name');
    }
    // Split on the first colon; later colons belong to the value. The 1.1+ grammar has no
    // colon in a value (STOMP 1.1+, "Augmented BNF"), but peers send them unescaped
    // (README, "Behaviour worth knowing").
    if (colon <= start)
      throw new StompError('MALFORMED_HEADER', colon === -1 ? 'no colon' : 'empty name');
    if (strayCr) throw new StompError('INVALID_EOL', 'CR in header value');
    // Plain ASCII without a backslash reads the same in every version and encoding.
    let nameId = -1;
    let name: string;
    if (this.nameFlags === 0) {
      nameId = HEADER_NAMES.find(buf, start, colon);
      name = nameId >= 0 ? HEADER_NAMES.words[nameId]! : buf.toString('latin1', start, colon);
    } else {
      name = decodeHeaderBytes(buf, start, colon, this.decodingVersion());
    }
    let value =
      this.valueFlags !== 0
        ? decodeHeaderBytes(buf, colon + 1, end, this.decodingVersion())
        : nameId >= 0
          ? this.recentValue(nameId, buf, colon + 1, end)
          : buf.toString('latin1', colon + 1, end);
    // Encoded the same way in every version: no escapes, no non-ASCII byte, no CR, no colon
    // in the value (1.1 and 1.2 would escape one).
    if (
      this.nameFlags !== 0 ||
      this.valueFlags !== 0 ||
      this.moreColons ||
      (this.firstCr !== -1 && this.firstCr < end)
    ) {
      this.plain = false;
    }
    if (version === '1.0') {
      // 1.0-era peers wrote "name: value", as the 1.0 spec's examples do. 1.1 and 1.2 forbid
      // trimming (STOMP 1.1+, "Value Encoding"); 1.0 is trimmed (README, "Behaviour worth
      // knowing").
      name = name.trim();
      value = value.trim();
      if (name.length === 0) throw new StompError('MALFORMED_HEADER', 'empty name');
    }
    this.headers.push(name, value);
  }

  private endHeaders(): void {
    let contentLength = -1;
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === 'content-length') {
        // The first occurrence counts (STOMP 1.2, "Repeated Header Entries"). It is an
        // octet count (STOMP 1.1+, "Header content-length"): anything but digits is an
        // error (README, "Behaviour worth knowing").
        const v = h[i + 1]!;
        contentLength = parseDigits(v);
        if (contentLength < 0) throw new StompError('INVALID_CONTENT_LENGTH', JSON.stringify(v));
        break;
      }
    }
    this.contentLength = contentLength;
    this.startBody(contentLength);
  }

  /** After the header block: the body, of contentLength bytes, or up to a NUL if that is -1. */
  private startBody(contentLength: number): void {
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

  /**
   * The rules escapes are decoded by, null for none. CONNECT/STOMP/CONNECTED are never
   * unescaped (STOMP 1.1+, "Value Encoding"), unless the compatibility switch asks for it;
   * the first CONNECT is read before any version is known, so it then gets the widest rules
   * (1.2's).
   */
  private decodingVersion(): StompVersion | null {
    if (!isUnescapedCommand(this.command)) return this.version;
    return this.decodeConnectEscapes ? (this.version ?? '1.2') : null;
  }

  private recentValue(id: number, buf: Buffer, start: number, end: number): string {
    const last = this.recent[id]!;
    const n = end - start;
    if (last.length === n) {
      let i = 0;
      while (i < n && last.charCodeAt(i) === buf[start + i]) i++;
      if (i === n) return last;
    }
    const value = buf.toString('latin1', start, end);
    // Credentials are not kept for the connection's life, nor values long enough to matter.
    if (n <= RECENT_MAX && id !== LOGIN && id !== PASSCODE) this.recent[id] = value;
    return value;
  }

  private emit(body: Buffer): void {
    const frame = new Frame(this.command, this.headers, body, this.plain);
    this.headers = [];
    this.body = EMPTY;
    this.bodyFilled = 0;
    this.frameBytes = 0;
    this.state = State.Idle;
    this.handler.onFrame(frame);
  }
}

/**
 * The value of a string of one or more ASCII digits, or -1 for anything else. More than
 * 15 digits may not be exact, and exceeds any frame size anyway: MAX_SAFE_INTEGER.
 */
function parseDigits(v: string): number {
  if (v.length === 0) return -1;
  let n = 0;
  let significant = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > 0) significant++; // leading zeros do not make a number large
  }
  return significant > 15 ? Number.MAX_SAFE_INTEGER : n;
}
