import type { StompError } from '../errors.js';
import { escapeHeader } from './escape.js';
import { EMPTY, Frame } from './frame.js';
import { BODY_COMMANDS, isUnescapedCommand, type StompVersion } from './version.js';

const LF = 0x0a;

/** The NUL octet that ends every frame (STOMP 1.2, "STOMP Frames"). */
export const FRAME_END = Buffer.from([0]);

/**
 * A heart-beat: one EOL (STOMP 1.1+, "Heart-beating"). A bare LF, because 1.1 asks for
 * exactly that and it is also an EOL in 1.2.
 */
export const HEARTBEAT = Buffer.from('\n');

/*
 * Nearly every header name and value is plain ASCII that needs no escaping. One regex
 * test per string tells such strings apart (faster than a JS loop over char codes), and
 * when all the lines being built are made of them their byte length is their string
 * length and they can be written as latin1: no Buffer.byteLength pass and no UTF-8 encoder.
 *
 * NOT_PLAIN[v] matches what version v would change (1.0: EOLs, flattened; 1.1: \ LF
 * and :; 1.2: also CR) or a non-ASCII character. CONNECT, STOMP and CONNECTED are never
 * escaped (STOMP 1.1+, "Value Encoding"): for them, as in 1.0, only EOLs (flattened) and
 * non-ASCII matter.
 */
const NON_ASCII = /[\u0080-\uffff]/;
const NOT_PLAIN: Record<StompVersion, RegExp> = {
  '1.0': /[\r\n\u0080-\uffff]/,
  '1.1': /[\\\n:\u0080-\uffff]/,
  '1.2': /[\\\r\n:\u0080-\uffff]/,
};

type Latin1Write = (this: Buffer, text: string, offset: number, length: number) => number;

/**
 * The method Buffer#write ends up calling for 'latin1', present on Node's Buffer prototype
 * though undocumented. Buffer#write checks its arguments and looks the encoding up on every
 * call, and the delivery path writes two strings per MESSAGE. Used when present, with
 * Buffer#write as the fallback.
 */
const nativeLatin1Write = checkedLatin1Write(
  (Buffer.prototype as unknown as { latin1Write?: Latin1Write }).latin1Write,
);

/** The method if it does here what Buffer#write does (it is not part of Node's documented API). */
function checkedLatin1Write(f: Latin1Write | undefined): Latin1Write | undefined {
  if (typeof f !== 'function') return undefined;
  try {
    const b = Buffer.alloc(6, 0x2e);
    const n = f.call(b, 'abc\u00e9', 1, 4);
    return n === 4 && b.toString('latin1') === '.abc\u00e9.' ? f : undefined;
  } catch {
    return undefined;
  }
}

/** Writes text (every char below 256; ASCII here) into out at pos; returns the bytes written. */
function writeLatin1(out: Buffer, text: string, pos: number, length: number): number {
  return nativeLatin1Write !== undefined
    ? nativeLatin1Write.call(out, text, pos, length)
    : out.write(text, pos, length, 'latin1');
}

/**
 * STOMP 1.0 has no escapes, and neither do CONNECT, STOMP and CONNECTED (STOMP 1.1+,
 * "Value Encoding"): an EOL inside a header would start a new line, so it becomes a space
 * (README, "Behaviour worth knowing").
 */
function flatten10(s: string): string {
  return s.indexOf('\n') === -1 && s.indexOf('\r') === -1 ? s : s.replace(/[\r\n]/g, ' ');
}

/**
 * The text of a frame's command and header lines as they are built, and whether it is
 * still all ASCII (then its byte length is its string length).
 */
class LineBuilder {
  text: string;
  ascii = true;

  constructor(text: string) {
    this.text = text;
  }

  /**
   * Appends the header lines, leaving out content-length (always recomputed from the body).
   * `unescaped`: the lines are a CONNECT's, STOMP's or CONNECTED's, never escaped.
   * `plain`: the caller knows that no name or value needs escaping (Frame.plain).
   */
  appendHeaders(
    headers: readonly string[],
    version: StompVersion,
    unescaped: boolean,
    plain = false,
  ): void {
    const notPlain = unescaped ? NOT_PLAIN['1.0'] : NOT_PLAIN[version];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name === 'content-length') continue;
      const value = headers[i + 1]!;
      if (!plain && (notPlain.test(name) || notPlain.test(value))) {
        this.text +=
          this.encode(name, version, unescaped) +
          ':' +
          this.encode(value, version, unescaped) +
          '\n';
      } else {
        this.text += name + ':' + value + '\n';
      }
    }
  }

  /**
   * A name or value as the wire has it: escaped (STOMP 1.1+, "Value Encoding"), or, in 1.0
   * and for `unescaped` commands, which cannot carry an EOL, flattened.
   */
  private encode(s: string, version: StompVersion, unescaped: boolean): string {
    if (this.ascii && NON_ASCII.test(s)) this.ascii = false;
    if (version === '1.0' || unescaped) return flatten10(s);
    return escapeHeader(s, version);
  }
}

/** The lines, the blank line that ends them, the body and the NUL, in one Buffer. */
function assemble(lines: LineBuilder, body: Buffer): Buffer {
  const text = lines.text;
  const linesLength = lines.ascii ? text.length : Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(linesLength + 1 + body.length + 1);
  out.write(text, 0, linesLength, lines.ascii ? 'latin1' : 'utf8');
  let pos = linesLength;
  out[pos++] = LF;
  // TypedArray#set copies without Buffer#copy's argument handling and temporary view.
  out.set(body, pos);
  out[pos + body.length] = 0;
  return out;
}

/**
 * Encodes a frame into one Buffer, escaping its headers for `version` except for CONNECT,
 * STOMP and CONNECTED (STOMP 1.1+, "Value Encoding"). SEND, MESSAGE and ERROR always get a
 * `content-length` computed from the body, replacing any the frame had: the spec requires
 * one only for a body with NULs (STOMP 1.1+, "Header content-length"), and coilmq always
 * writes it so that no client has to find the body's end by looking for a NUL.
 */
export function encodeFrame(frame: Frame, version: StompVersion): Buffer {
  const unescaped = isUnescapedCommand(frame.command);
  const lines = new LineBuilder(frame.command + '\n');
  if (NON_ASCII.test(frame.command)) lines.ascii = false;
  lines.appendHeaders(frame.headers, version, unescaped);
  const body = frame.body;
  if (BODY_COMMANDS.has(frame.command)) lines.text += 'content-length:' + body.length + '\n';
  return assemble(lines, body);
}

/** Header lines as a version writes them (content-length left out), and whether they are all ASCII. */
export interface EncodedLines {
  readonly text: string;
  readonly ascii: boolean;
}

/**
 * Encodes header lines once, for a caller that reuses them in many frames (a subscription's
 * own `subscription` line, in every MESSAGE it gets).
 */
export function encodeLines(headers: readonly string[], version: StompVersion): EncodedLines {
  const lines = new LineBuilder('');
  lines.appendHeaders(headers, version, false);
  return { text: lines.text, ascii: lines.ascii };
}

/**
 * The common part of a MESSAGE for one version: its text, and its bytes when it is not
 * ASCII or when several messages share it (then a copy of bytes is cheaper than writing
 * the string again).
 */
interface Common {
  readonly text: string;
  readonly bytes: Buffer | null;
  readonly length: number;
}

/** The common parts of a MESSAGE per version, made when first needed; shareable. */
export class CommonParts {
  c10: Common | null = null;
  c11: Common | null = null;
  c12: Common | null = null;
  /** More than one message uses these parts. */
  shared = false;
}

/**
 * A MESSAGE whose common part (destination, user headers, content-length) is encoded
 * once per protocol version and shared by every delivery, so that a topic with many
 * subscribers escapes and measures headers once. Each delivery adds only its own first
 * lines (the command line, then `subscription`, `message-id`, `ack`, redelivery marks),
 * written before the common part so that they win over anything a sender put there
 * (STOMP 1.2, "Repeated Header Entries").
 */
export class SharedMessage {
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** No header needs escaping in any version (Frame.plain): encoding skips the checks. */
  private readonly plain: boolean;
  private readonly parts: CommonParts;

  /**
   * `parts`: encoded common parts the caller lets this message share with others that have
   * the same headers and body length; by default its own.
   */
  constructor(
    headers: readonly string[],
    body: Buffer = EMPTY,
    plain = false,
    parts: CommonParts = new CommonParts(),
  ) {
    this.headers = headers;
    this.body = body;
    this.plain = plain;
    this.parts = parts;
  }

  private common(version: StompVersion): Common {
    const p = this.parts;
    let c = version === '1.2' ? p.c12 : version === '1.1' ? p.c11 : p.c10;
    if (c === null || (c.bytes === null && p.shared)) {
      let text: string;
      let ascii: boolean;
      if (c === null) {
        const lines = new LineBuilder('');
        lines.appendHeaders(this.headers, version, false, this.plain);
        text = lines.text + 'content-length:' + this.body.length + '\n';
        ascii = lines.ascii;
      } else {
        text = c.text;
        ascii = true;
      }
      // Kept as a string when ASCII and used once (a queue message is usually delivered
      // once): writing it straight into the frame saves making a Buffer of it first.
      const bytes = !ascii ? Buffer.from(text) : p.shared ? Buffer.from(text, 'latin1') : null;
      c = { text, bytes, length: bytes === null ? text.length : bytes.length };
      if (version === '1.2') p.c12 = c;
      else if (version === '1.1') p.c11 = c;
      else p.c10 = c;
    }
    return c;
  }

  /**
   * One MESSAGE frame for one delivery. `firstLines` is the MESSAGE command line and the
   * delivery's own header lines, already encoded for `version` by the caller (encodeLines,
   * or text it knows to be plain); `ascii` says they are all ASCII.
   */
  encodeWith(version: StompVersion, firstLines: string, ascii: boolean): Buffer {
    const firstLinesLength = ascii ? firstLines.length : Buffer.byteLength(firstLines);
    const out = Buffer.allocUnsafe(this.frameLength(version, firstLinesLength));
    this.encodeInto(out, 0, version, firstLines, firstLinesLength, ascii);
    return out;
  }

  /** The size of the frame encodeWith makes, given the length of its first lines in bytes. */
  frameLength(version: StompVersion, firstLinesLength: number): number {
    return firstLinesLength + this.common(version).length + 1 + this.body.length + 1;
  }

  /**
   * Writes the frame encodeWith makes into `out` at `pos`, which has room for frameLength
   * bytes, and returns where it ends: several frames can then share one buffer.
   */
  encodeInto(
    out: Buffer,
    pos: number,
    version: StompVersion,
    firstLines: string,
    firstLinesLength: number,
    ascii: boolean,
  ): number {
    const body = this.body;
    pos += ascii
      ? writeLatin1(out, firstLines, pos, firstLinesLength)
      : out.write(firstLines, pos, firstLinesLength, 'utf8');
    pos = writeCommon(out, pos, this.common(version));
    out[pos++] = LF;
    out.set(body, pos);
    pos += body.length;
    out[pos++] = 0;
    return pos;
  }

  /**
   * The frame encodeWith makes, up to and including the blank line, for a caller that
   * writes the shared body and FRAME_END after it itself: a large body is then never
   * copied per delivery.
   */
  encodeBeforeBody(version: StompVersion, firstLines: string, ascii: boolean): Buffer {
    const common = this.common(version);
    const firstLinesLength = ascii ? firstLines.length : Buffer.byteLength(firstLines);
    const out = Buffer.allocUnsafe(firstLinesLength + common.length + 1);
    let pos = out.write(firstLines, 0, firstLinesLength, ascii ? 'latin1' : 'utf8');
    pos = writeCommon(out, pos, common);
    out[pos] = LF;
    return out;
  }
}

function writeCommon(out: Buffer, pos: number, common: Common): number {
  if (common.bytes === null) return pos + writeLatin1(out, common.text, pos, common.length);
  out.set(common.bytes, pos);
  return pos + common.length;
}

/**
 * An ERROR frame for `e`: `message` (ending in the stable code), `code`, any extra headers,
 * and the description as a text body (STOMP 1.2, "ERROR").
 */
export function encodeError(
  e: StompError,
  extra: readonly string[],
  version: StompVersion,
): Buffer {
  // The charset is explicit (STOMP 1.2, "Header content-type"); it also keeps stompit 1.0,
  // which mishandles a bare `text/plain` ERROR body, working.
  const headers = [
    'message',
    `${e.message} (${e.code})`,
    'code',
    e.code,
    ...extra,
    'content-type',
    'text/plain;charset=utf-8',
  ];
  return encodeFrame(new Frame('ERROR', headers, Buffer.from(e.message + '\n')), version);
}
