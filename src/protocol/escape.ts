import { StompError } from '../errors.js';
import type { StompVersion } from './version.js';

const BACKSLASH = 0x5c;

/**
 * Decodes the header bytes buf[start, end) per version (null: a CONNECT's, never escaped).
 * 1.0 has no escapes. 1.1 knows \n \c \\ (STOMP 1.1, "Value Encoding"); 1.2 adds \r
 * (STOMP 1.2, "Value Encoding"). Anything else, a lone trailing backslash included, is a
 * fatal protocol error.
 */
export function decodeHeaderBytes(
  buf: Buffer,
  start: number,
  end: number,
  version: StompVersion | null,
): string {
  if (version === '1.0' || version === null) return buf.toString('utf8', start, end);
  let i = start;
  while (i < end && buf[i] !== BACKSLASH) i++;
  if (i === end) return buf.toString('utf8', start, end);
  return unescapeSlow(buf, start, end, version);
}

function unescapeSlow(buf: Buffer, start: number, end: number, version: StompVersion): string {
  // Escapes only ever shrink, so the decoded bytes fit in the input's length.
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b !== BACKSLASH) {
      out[o++] = b;
      continue;
    }
    if (++i === end) throw new StompError('INVALID_ESCAPE', 'lone backslash at end of header');
    const e = buf[i]!;
    if (e === 0x6e /* n */) out[o++] = 0x0a;
    else if (e === 0x63 /* c */) out[o++] = 0x3a;
    else if (e === BACKSLASH) out[o++] = BACKSLASH;
    else if (e === 0x72 /* r */ && version === '1.2') out[o++] = 0x0d;
    else throw new StompError('INVALID_ESCAPE', `\\${String.fromCharCode(e)} in STOMP ${version}`);
  }
  return out.toString('utf8', 0, o);
}

const NEEDS_ESCAPE_11 = /[\\\n:]/;
const NEEDS_ESCAPE_12 = /[\\\r\n:]/;

/**
 * Escapes a header name or value for the wire (STOMP 1.1+, "Value Encoding"). 1.1 escapes
 * LF, `:` and `\`; 1.2 also CR. 1.0 has no escaping, so the caller must not send such
 * characters.
 */
export function escapeHeader(s: string, version: StompVersion): string {
  if (version === '1.0') return s;
  if (version === '1.2') {
    if (!NEEDS_ESCAPE_12.test(s)) return s;
  } else if (!NEEDS_ESCAPE_11.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x3a) out += '\\c';
    else if (c === 0x0d && version === '1.2') out += '\\r';
    else out += s[i];
  }
  return out;
}
