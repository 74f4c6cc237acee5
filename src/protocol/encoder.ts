import { escapeHeader } from './escape.js';
import { EMPTY, type Frame } from './frame.js';
import { BODY_COMMANDS, isUnescapedCommand, type StompVersion } from './version.js';

const LF = 0x0a;

/** A heart-beat: one EOL (HB-03). LF is valid in every version. */
export const HEARTBEAT = Buffer.from('\n');

function headerText(name: string, value: string, version: StompVersion, raw: boolean): string {
  if (raw) return name + ':' + value + '\n';
  return escapeHeader(name, version) + ':' + escapeHeader(value, version) + '\n';
}

/** 1.0 has no escapes (E-01): an EOL inside a header would start a new line, so it becomes a space. */
function flatten10(s: string): string {
  return s.indexOf('\n') === -1 && s.indexOf('\r') === -1 ? s : s.replace(/[\r\n]/g, ' ');
}

function headerLines(headers: readonly string[], version: StompVersion, raw: boolean): string {
  let out = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name === 'content-length') continue; // always recomputed from the body
    if (version === '1.0') out += flatten10(name) + ':' + flatten10(headers[i + 1]!) + '\n';
    else out += headerText(name, headers[i + 1]!, version, raw);
  }
  return out;
}

function assemble(head: string, middle: Buffer | null, body: Buffer): Buffer {
  const headLength = Buffer.byteLength(head);
  const middleLength = middle === null ? 0 : middle.length;
  const out = Buffer.allocUnsafe(headLength + middleLength + 1 + body.length + 1);
  out.write(head, 0, headLength, 'utf8');
  let pos = headLength;
  if (middle !== null) pos += middle.copy(out, pos);
  out[pos++] = LF;
  pos += body.copy(out, pos);
  out[pos] = 0;
  return out;
}

/**
 * Encodes a frame into one Buffer, escaping per version (E-04) except for CONNECT,
 * STOMP and CONNECTED (E-05). SEND, MESSAGE and ERROR always get a `content-length`
 * computed from the body (B-04), replacing any the frame had.
 */
export function encodeFrame(frame: Frame, version: StompVersion): Buffer {
  const raw = isUnescapedCommand(frame.command);
  let head = frame.command + '\n' + headerLines(frame.headers, version, raw);
  const body = frame.body;
  if (BODY_COMMANDS.has(frame.command)) head += 'content-length:' + body.length + '\n';
  return assemble(head, null, body);
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
  private common10: Buffer | null = null;
  private common11: Buffer | null = null;
  private common12: Buffer | null = null;

  constructor(headers: readonly string[], body: Buffer = EMPTY) {
    this.headers = headers;
    this.body = body;
  }

  private common(version: StompVersion): Buffer {
    let c = version === '1.2' ? this.common12 : version === '1.1' ? this.common11 : this.common10;
    if (c === null) {
      c = Buffer.from(
        headerLines(this.headers, version, false) + 'content-length:' + this.body.length + '\n',
      );
      if (version === '1.2') this.common12 = c;
      else if (version === '1.1') this.common11 = c;
      else this.common10 = c;
    }
    return c;
  }

  /** One MESSAGE frame for one delivery: `perDelivery` is a flat [name, value, ...] list. */
  encode(version: StompVersion, perDelivery: readonly string[]): Buffer {
    return assemble(
      'MESSAGE\n' + headerLines(perDelivery, version, false),
      this.common(version),
      this.body,
    );
  }
}
