/**
 * Fuzz and mutation tests for the parser. Valid byte streams are mutated at random (bytes
 * flipped, replaced, inserted, deleted, ranges duplicated, the stream truncated) and fed in
 * random chunks, under every version and with the CONNECT-time switch. For every input:
 * - the only thing ever thrown is a StompError with a code from ErrorCodes, and the parser
 *   stays failed after it (checked by feed());
 * - parser.bufferedBytes never exceeds the bound that the limits allow, after every push
 *   (L-01: "checked before the bytes it concerns are buffered");
 * - the result (frames, heart-beats, error code) does not depend on the chunking, nor on
 *   pausing after every frame, nor on chunks arriving while paused (1.P item 1);
 * - it finishes: the number of runs is bounded and each test has a timeout.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ErrorCode } from '../../src/errors.js';
import type { ParserOptions, StompVersion } from '../../src/protocol/index.js';
import { chunkAt, feed, type FeedOptions, type ParseResult } from './helpers.js';

const LIMITS: ParserOptions = {
  maxFrameSize: 4096,
  maxHeaderLineLength: 256,
  maxHeaders: 16,
  maxCommandLength: 32,
};

/** Valid streams, chosen to sit near every limit and to exercise every parser state. */
const SEEDS: Buffer[] = [
  Buffer.from(
    'CONNECT\r\naccept-version:1.0,1.1,1.2\r\nhost:/\r\nlogin:guest\r\npasscode:p:a\\ss\r\n\r\n\0\n\r\n',
  ),
  Buffer.from('SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0\n'),
  Buffer.from('SEND\r\ndestination:/queue/a\\cb\\\\c\\r\\n\r\nreceipt:1\r\n\r\nhello\0'),
  Buffer.from(
    'MESSAGE\n' + Array.from({ length: 16 }, (_, i) => `h${i}:v${i}\n`).join('') + '\nbody\0',
  ),
  Buffer.from(`SEND\nx:${'v'.repeat(250)}\ndestination:/a\n\nb\0`),
  Buffer.from(`SEND\ndestination:/a\n\n${'x'.repeat(4000)}\0`),
  Buffer.from(`SEND\ndestination:/a\ncontent-length:4000\n\n${'\0'.repeat(4000)}\0`),
  Buffer.from(
    '\nCONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:1\ndestination:/a\nack:client\n\n\0\n' +
      'SEND\ndestination:/a\ncontent-length:3\n\nabc\0ACK\nid:\\c1\n\n\0\r\nDISCONNECT\nreceipt:r\n\n\0',
  ),
  Buffer.from('ERROR\nmessage:bad\\nthing\ncontent-length:0\n\n\0'),
  Buffer.from(`${'UNSUBSCRIBE'.padEnd(32, 'X')}\nid:1\n\n\0`),
];

/** Octets that matter to the grammar, and sometimes any octet. */
const byteArb = fc.oneof(
  fc.constantFrom(0x00, 0x0a, 0x0d, 0x3a, 0x5c, 0x63, 0x6e, 0x72, 0x74, 0x30, 0x39, 0x20, 0x2d),
  fc.integer({ min: 0, max: 255 }),
);

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'replace' | 'insert'; pos: number; byte: number }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'duplicate'; pos: number; len: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    pos: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    kind: fc.constantFrom('replace' as const, 'insert' as const),
    pos: fc.nat(),
    byte: byteArb,
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    pos: fc.nat(),
    len: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    pos: fc.nat(),
    len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 64, max: 5000 })),
  }),
);

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.pos % b.length;
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'replace':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
        break;
    }
  }
  return b;
}

const versionArb = fc.constantFrom<StompVersion | null>(null, '1.0', '1.1', '1.2');
const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

const optionsArb: fc.Arbitrary<FeedOptions> = fc
  .record({
    version: versionArb,
    decodeConnectEscapes: fc.boolean(),
    switchTo: fc.option(fc.constantFrom<StompVersion>('1.0', '1.1', '1.2'), { nil: undefined }),
  })
  .map(({ version, decodeConnectEscapes, switchTo }) => ({
    version,
    options: { ...LIMITS, decodeConnectEscapes },
    switchVersion: (f) => (f.command === 'CONNECT' ? switchTo : undefined),
  }));

/**
 * Feeds `bytes` whole, in the given chunks, and in the given chunks pausing after every
 * frame (resuming after each push, or only after the last). feed() checks the error type,
 * the buffer bound and the failed state; this checks that all four agree. Returns the
 * whole-stream result.
 */
function checkStream(bytes: Buffer, cuts: readonly number[], opts: FeedOptions): ParseResult {
  const whole = feed([bytes], opts);
  const chunks = chunkAt(bytes, cuts);
  assert.deepStrictEqual(feed(chunks, opts), whole, 'chunked differs from whole');
  assert.deepStrictEqual(
    feed(chunks, { ...opts, mode: 'pause' }),
    whole,
    'paused differs from whole',
  );
  assert.deepStrictEqual(
    feed(chunks, { ...opts, mode: 'deferred' }),
    whole,
    'paused with chunks held differs from whole',
  );
  return whole;
}

describe('mutation fuzzing', () => {
  test(
    'L-01, 1.P-1 mutated valid streams: only StompErrors, bounded buffer, chunking-independent',
    { timeout: 20_000 },
    () => {
      const seen = new Map<ErrorCode | 'ok', number>();
      fc.assert(
        fc.property(
          fc.constantFrom(...SEEDS),
          fc.array(mutationArb, { minLength: 1, maxLength: 5 }),
          optionsArb,
          cutsArb,
          (seed, mutations, opts, cuts) => {
            const r = checkStream(mutate(seed, mutations), cuts, opts);
            const key = r.error ?? 'ok';
            seen.set(key, (seen.get(key) ?? 0) + 1);
          },
        ),
        { numRuns: 1500 },
      );
      // The fuzzer must actually reach the error paths, and also leave some streams valid.
      if (process.env.FUZZ_STATS) console.log(seen);
      assert.ok(seen.has('ok'), 'no mutated stream parsed cleanly');
      const codes = [...seen.keys()].filter((k) => k !== 'ok');
      assert.ok(codes.length >= 8, `only reached ${codes.join(', ')}`);
    },
  );

  test('L-01 unmutated seeds parse cleanly under 1.2 (the fuzz starts from valid input)', () => {
    for (const seed of SEEDS) {
      const r = checkStream(seed, [7, 100, 1000, 4000], { version: '1.2', options: LIMITS });
      assert.equal(r.error, undefined, JSON.stringify(seed.toString().slice(0, 40)));
      assert.ok(r.events.length > 0);
    }
  });

  test(
    'L-01 random octets: only StompErrors, bounded buffer, chunking-independent',
    { timeout: 20_000 },
    () => {
      fc.assert(
        fc.property(
          fc.array(byteArb, { maxLength: 600 }).map((a) => Buffer.from(a)),
          optionsArb,
          cutsArb,
          (bytes, opts, cuts) => {
            checkStream(bytes, cuts, opts);
          },
        ),
        { numRuns: 1000 },
      );
    },
  );

  test(
    'L-01 random frame-shaped streams: only StompErrors, bounded buffer, chunking-independent',
    { timeout: 20_000 },
    () => {
      // Lines built from grammar pieces reach deeper states than random octets do.
      const piece = fc.constantFrom(
        'SEND',
        'CONNECT',
        'MESSAGE',
        '\n',
        '\r\n',
        '\r',
        '\0',
        ':',
        '\\',
        '\\c',
        '\\r',
        '\\t',
        'content-length:',
        'content-length:3',
        'content-length:-1',
        'content-length:99999',
        'destination:/a',
        'x'.repeat(300),
        '9',
        ' ',
      );
      fc.assert(
        fc.property(
          fc.array(piece, { maxLength: 60 }).map((p) => Buffer.from(p.join(''))),
          optionsArb,
          cutsArb,
          (bytes, opts, cuts) => {
            checkStream(bytes, cuts, opts);
          },
        ),
        { numRuns: 1000 },
      );
    },
  );
});
