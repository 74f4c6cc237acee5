/**
 * Property tests: what the encoder writes, the parser reads back unchanged, for every
 * version, in any chunking. Covers E-01..E-05 (escaping both ways), B-02/B-04 (binary bodies
 * with NULs and the content-length the encoder adds), F-01/F-03 (streams of frames and
 * heart-beats) and F-09 (split on the first colon).
 *
 * Constraints on the generated headers, and why:
 * - 1.1 and 1.2 (escaped commands): none, beyond a non-empty name (F-09: header-name is
 *   1*OCTET). ':', '\', LF, and in 1.2 CR, are escaped (E-04). In 1.1 CR is not escaped, but
 *   1.1's EOL is LF only (F-02) and its grammar allows CR in names and values, so a raw CR
 *   anywhere, trailing included, is read back as part of the header.
 * - 1.0 (E-01: no escaping): no CR or LF (1.0 cannot carry them; the encoder turns them into
 *   spaces), no ':' in names (the first colon splits, F-09), and no leading or trailing
 *   whitespace (the parser trims 1.0 headers, F-10 policy).
 * - CONNECT, STOMP, CONNECTED (E-05: never escaped), read with version null as a server
 *   reads a CONNECT: no CR or LF anywhere (they cannot be represented unescaped; a trailing
 *   CR would be read as the CR of a CRLF, F-02), and no ':' in names.
 * - A header named content-length is left out: the encoder always writes its own (B-04).
 * - Only SEND, MESSAGE and ERROR get a body (B-01); theirs is any bytes, NULs included.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BODY_COMMANDS,
  decodeHeaderBytes,
  encodeFrame,
  encodeLines,
  escapeHeader,
  Frame,
  isUnescapedCommand,
  SharedMessage,
  type StompVersion,
} from '../../src/protocol/index.js';
import { chunkAt, feed, HB, type ParsedEvent } from './helpers.js';

const VERSIONS: StompVersion[] = ['1.0', '1.1', '1.2'];
const ESCAPED_COMMANDS = [
  'SEND',
  'MESSAGE',
  'ERROR',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
  'RECEIPT',
];
const RAW_COMMANDS = ['CONNECT', 'STOMP', 'CONNECTED'];
const NUM_RUNS = 300;

/** One code point: mostly the characters that matter to framing, sometimes any at all. */
function charArb(exclude: string): fc.Arbitrary<string> {
  const special = [':', '\\', '\r', '\n', 'c', 'n', 'r', 't', ' ', '\t', '\0', '\u00e9', '\u20ac']
    .concat(['\ud83d\ude00', 'a', '\u00a0'])
    .filter((c) => !exclude.includes(c));
  const any = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 1 })
    .filter((c) => !exclude.includes(c));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...special), weight: 4 },
    { arbitrary: any, weight: 1 },
  );
}

function textArb(exclude: string, minLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: charArb(exclude), minLength, maxLength: 12 });
}

type Kind = 'escaped' | 'raw';

/** Header names and values that `version` can carry for commands of this kind. */
function headerArb(version: StompVersion, kind: Kind): fc.Arbitrary<[string, string]> {
  let name: fc.Arbitrary<string>;
  let value: fc.Arbitrary<string>;
  if (kind === 'raw') {
    // In 1.0 too: written by the 1.0 encoder, read with null rules, neither side trims.
    name = textArb(':\r\n', 1);
    value = textArb('\r\n', 0);
  } else if (version === '1.0') {
    name = textArb(':\r\n', 1)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    value = textArb('\r\n', 0).map((s) => s.trim());
  } else {
    name = textArb('', 1);
    value = textArb('', 0);
  }
  return fc.tuple(
    name.filter((n) => n !== 'content-length'),
    value,
  );
}

function headersArb(version: StompVersion, kind: Kind): fc.Arbitrary<string[]> {
  return fc.array(headerArb(version, kind), { maxLength: 8 }).map((pairs) => pairs.flat());
}

const bodyArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(fc.constantFrom(0, 0x0a, 0x0d, 0x5c, 0x3a), { maxLength: 20 })
      .map((a) => Uint8Array.from(a)),
  )
  .map((u) => Buffer.from(u));

function frameArb(version: StompVersion, commands: string[]): fc.Arbitrary<Frame> {
  return fc
    .constantFrom(...commands)
    .chain((command) =>
      fc
        .tuple(
          headersArb(version, isUnescapedCommand(command) ? 'raw' : 'escaped'),
          BODY_COMMANDS.has(command) ? bodyArb : fc.constant(Buffer.alloc(0)),
        )
        .map(([headers, body]) => new Frame(command, headers, body)),
    );
}

/** The frame the parser should deliver for `f`: the encoder adds content-length (B-04). */
function expected(f: Frame): Frame {
  const headers = BODY_COMMANDS.has(f.command)
    ? [...f.headers, 'content-length', String(f.body.length)]
    : f.headers;
  return new Frame(f.command, headers, f.body);
}

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

describe('encodeFrame then FrameParser returns the same frame', () => {
  for (const version of VERSIONS) {
    test(`E-01..E-05, B-02, B-04, F-01 ${version}: one frame, whole and in random chunks`, () => {
      fc.assert(
        fc.property(
          frameArb(version, [...ESCAPED_COMMANDS, ...RAW_COMMANDS]),
          cutsArb,
          (f, cuts) => {
            const bytes = encodeFrame(f, version);
            // A server reads CONNECT before any version is agreed (null); the rest with `version`.
            const parseVersion = isUnescapedCommand(f.command) ? null : version;
            for (const chunks of [[bytes], chunkAt(bytes, cuts)]) {
              for (const mode of ['sync', 'pause'] as const) {
                const r = feed(chunks, { version: parseVersion, mode });
                assert.equal(r.error, undefined);
                assert.deepStrictEqual(r.events, [expected(f)]);
                assert.equal(r.idle, true);
              }
            }
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });

    test(`F-01, F-03 ${version}: a stream of frames and heart-beats, in random chunks`, () => {
      const eol = version === '1.2' ? fc.constantFrom('\n', '\r\n') : fc.constant('\n');
      const item = fc.oneof(
        { arbitrary: frameArb(version, ESCAPED_COMMANDS), weight: 3 },
        { arbitrary: eol, weight: 1 },
      );
      fc.assert(
        fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), cutsArb, (items, cuts) => {
          const parts: Buffer[] = [];
          const events: ParsedEvent[] = [];
          for (const it of items) {
            if (typeof it === 'string') {
              parts.push(Buffer.from(it));
              events.push(HB);
            } else {
              parts.push(encodeFrame(it, version));
              events.push(expected(it));
            }
          }
          const bytes = Buffer.concat(parts);
          const r = feed(chunkAt(bytes, cuts), { version });
          assert.equal(r.error, undefined);
          assert.deepStrictEqual(r.events, events);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    test(`E-06, B-04 ${version}: SharedMessage deliveries read back with their own headers first`, () => {
      fc.assert(
        fc.property(
          headersArb(version, 'escaped'),
          headersArb(version, 'escaped'),
          bodyArb,
          cutsArb,
          (common, perDelivery, body, cuts) => {
            const own = encodeLines(perDelivery, version);
            const bytes = new SharedMessage(common, body).encodeWith(
              version,
              'MESSAGE\n' + own.text,
              own.ascii,
            );
            assert.deepStrictEqual(
              bytes,
              encodeFrame(new Frame('MESSAGE', [...perDelivery, ...common], body), version),
            );
            const r = feed(chunkAt(bytes, cuts), { version });
            assert.equal(r.error, undefined);
            assert.deepStrictEqual(r.events, [
              new Frame(
                'MESSAGE',
                [...perDelivery, ...common, 'content-length', String(body.length)],
                body,
              ),
            ]);
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });
  }
});

describe('escapeHeader and decodeHeaderBytes are inverses', () => {
  for (const version of ['1.1', '1.2'] as const) {
    test(`E-02..E-04 ${version}: decode(escape(s)) === s, and the escaped form has no delimiters`, () => {
      const forbidden = version === '1.2' ? /[\r\n:]/ : /[\n:]/;
      fc.assert(
        fc.property(textArb('', 0), (s) => {
          const escaped = Buffer.from(escapeHeader(s, version));
          assert.ok(!forbidden.test(escaped.toString()), JSON.stringify(escaped.toString()));
          assert.equal(decodeHeaderBytes(escaped, 0, escaped.length, version), s);
        }),
        { numRuns: 1000 },
      );
    });
  }
});
