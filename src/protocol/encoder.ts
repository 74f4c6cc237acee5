import { escapeHeader } from './escape.js';
import { EMPTY, type Frame } from './frame.js';
import { BODY_COMMANDS, isUnescapedCommand, type StompVersion } from './version.js';

const LF = 0x0a;

/** The NUL that ends every frame (F-01). */
export const FRAME_END = Buffer.from([0]);

/** A heart-beat: one EOL (HB-03). LF is valid in every version. */
export const HEARTBEAT = Buffer.from('\n');

/*
 * Nearly every header name and value is plain ASCII that needs no escaping. One regex
 * test per string tells such strings apart (faster, measured, than a JS loop over char
 * codes), and when a whole head is made of them its byte length is its string length and
 * it can be written as latin1: no Buffer.byteLength pass and no UTF-8 encoder.
 *
 * NOT_PLAIN[v] matches what version v would change (1.0: EOLs, flattened; 1.1: \ LF
 * and :; 1.2: also CR) or a non-ASCII character. CONNECT, STOMP and CONNECTED in 1.1
 * and 1.2 are never escaped (E-05): like 1.0, only EOLs (flattened) and non-ASCII matter.
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
 * call: with two strings written per MESSAGE that was about a tenth of the broker's CPU on
 * a busy queue. Used when present, with Buffer#write as the fallback.
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

/** 1.0 has no escapes (E-01): an EOL inside a header would start a new line, so it becomes a space. */
function flatten10(s: string): string {
  return s.indexOf('\n') === -1 && s.indexOf('\r') === -1 ? s : s.replace(/[\r\n]/g, ' ');
}

/** The text of a frame head as it is built, and whether it is still all ASCII. */
class Head {
  text: string;
  ascii = true;

  constructor(text: string) {
    this.text = text;
  }

  /**
   * Appends the header lines, leaving out content-length (always recomputed from the body).
   * `plain`: the caller knows that no name or value needs escaping (Frame.plain).
   */
  lines(headers: readonly string[], version: StompVersion, raw: boolean, plain = false): void {
    const notPlain = raw ? NOT_PLAIN['1.0'] : NOT_PLAIN[version];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name === 'content-length') continue;
      const value = headers[i + 1]!;
      if (!plain && (notPlain.test(name) || notPlain.test(value))) {
        this.text +=
          this.encode(name, version, raw) + ':' + this.encode(value, version, raw) + '\n';
      } else {
        this.text += name + ':' + value + '\n';
      }
    }
  }

  /** A name or value as the wire has it: escaped (E-04), raw (E-05) or flattened (1.0). */
  private encode(s: string, version: StompVersion, raw: boolean): string {
    if (this.ascii && NON_ASCII.test(s)) this.ascii = false;
    // Unescaped heads (1.0, and CONNECT/STOMP/CONNECTED: E-05) cannot carry an EOL.
    if (version === '1.0' || raw) return flatten10(s);
    return escapeHeader(s, version);
  }
}

/** Head, the blank line, `middle` (already encoded header lines) if any, body and NUL. */
function assemble(head: Head, middle: Buffer | null, body: Buffer): Buffer {
  const text = head.text;
  const headLength = head.ascii ? text.length : Buffer.byteLength(text);
  const middleLength = middle === null ? 0 : middle.length;
  const out = Buffer.allocUnsafe(headLength + middleLength + 1 + body.length + 1);
  out.write(text, 0, headLength, head.ascii ? 'latin1' : 'utf8');
  let pos = headLength;
  if (middle !== null) {
    out.set(middle, pos);
    pos += middleLength;
  }
  out[pos++] = LF;
  // TypedArray#set copies without Buffer#copy's argument handling and temporary view.
  out.set(body, pos);
  out[pos + body.length] = 0;
  return out;
}

/**
 * Encodes a frame into one Buffer, escaping per version (E-04) except for CONNECT,
 * STOMP and CONNECTED (E-05). SEND, MESSAGE and ERROR always get a `content-length`
 * computed from the body (B-04), replacing any the frame had.
 */
export function encodeFrame(frame: Frame, version: StompVersion): Buffer {
  const raw = isUnescapedCommand(frame.command);
  const head = new Head(frame.command + '\n');
  if (NON_ASCII.test(frame.command)) head.ascii = false;
  head.lines(frame.headers, version, raw);
  const body = frame.body;
  if (BODY_COMMANDS.has(frame.command)) head.text += 'content-length:' + body.length + '\n';
  return assemble(head, null, body);
}

/** Header lines as a version writes them (content-length left out), and whether they are all ASCII. */
export interface HeaderText {
  readonly text: string;
  readonly ascii: boolean;
}

/** Encodes header lines once, for a caller that reuses them (a subscription's own line). */
export function headerText(headers: readonly string[], version: StompVersion): HeaderText {
  const head = new Head('');
  head.lines(headers, version, false);
  return { text: head.text, ascii: head.ascii };
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
 * subscribers escapes and measures headers once. Each delivery adds only its own
 * headers (`subscription`, `message-id`, `ack`, redelivery marks), written first so that
 * they win over anything a sender put in the common part (E-06).
 */
export class SharedMessage {
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** No header needs escaping in any version (Frame.plain). */
  private readonly plain: boolean;
  private readonly parts: CommonParts;

  /** `parts`: from CommonCache.partsFor, when the caller may share them with other messages. */
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
        const head = new Head('');
        head.lines(this.headers, version, false, this.plain);
        text = head.text + 'content-length:' + this.body.length + '\n';
        ascii = head.ascii;
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

  /** One MESSAGE frame for one delivery: `perDelivery` is a flat [name, value, ...] list. */
  encode(version: StompVersion, perDelivery: readonly string[]): Buffer {
    const head = new Head('MESSAGE\n');
    head.lines(perDelivery, version, false);
    return this.encodeWith(version, head.text, head.ascii);
  }

  /**
   * One MESSAGE frame whose first lines, `head` (the command line and the delivery's own
   * headers, already encoded for `version`), the caller made: the delivery path builds them
   * without a header list or escaping checks, from values it knows to be plain.
   */
  encodeWith(version: StompVersion, head: string, ascii: boolean): Buffer {
    const headLength = ascii ? head.length : Buffer.byteLength(head);
    const out = Buffer.allocUnsafe(this.frameLength(version, headLength));
    this.encodeInto(out, 0, version, head, headLength, ascii);
    return out;
  }

  /** The size of the frame encodeWith makes, given its head's length in bytes. */
  frameLength(version: StompVersion, headLength: number): number {
    return headLength + this.common(version).length + 1 + this.body.length + 1;
  }

  /**
   * Writes the frame encodeWith makes into `out` at `pos`, which has room for frameLength
   * bytes, and returns where it ends: several frames can then share one buffer.
   */
  encodeInto(
    out: Buffer,
    pos: number,
    version: StompVersion,
    head: string,
    headLength: number,
    ascii: boolean,
  ): number {
    const body = this.body;
    pos += ascii
      ? writeLatin1(out, head, pos, headLength)
      : out.write(head, pos, headLength, 'utf8');
    pos = writeCommon(out, pos, this.common(version));
    out[pos++] = LF;
    out.set(body, pos);
    pos += body.length;
    out[pos++] = 0;
    return pos;
  }

  /**
   * The frame up to and including the blank line, for a caller that writes the shared body
   * and FRAME_END after it itself: a large body is then never copied per delivery.
   */
  encodeHead(version: StompVersion, perDelivery: readonly string[]): Buffer {
    const head = new Head('MESSAGE\n');
    head.lines(perDelivery, version, false);
    return this.encodeHeadWith(version, head.text, head.ascii);
  }

  /** encodeHead, with the delivery's own lines made by the caller (see encodeWith). */
  encodeHeadWith(version: StompVersion, head: string, ascii: boolean): Buffer {
    const common = this.common(version);
    const headLength = ascii ? head.length : Buffer.byteLength(head);
    const out = Buffer.allocUnsafe(headLength + common.length + 1);
    let pos = out.write(head, 0, headLength, ascii ? 'latin1' : 'utf8');
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
