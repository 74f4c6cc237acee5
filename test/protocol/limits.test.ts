/**
 * Frame limits: L-01 (COMMAND_TOO_LONG, HEADER_TOO_LONG, TOO_MANY_HEADERS, FRAME_TOO_LARGE),
 * 1.P item 12 (oversized frame, also before CONNECT). Each limit is tested at its exact
 * boundary, and for the streaming cases the parser must fail before it buffers past the
 * limit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StompError, type ErrorCode } from '../../src/errors.js';
import { DEFAULT_OPTIONS } from '../../src/settings.js';
import { FrameParser, type ParserOptions, type StompVersion } from '../../src/protocol/index.js';
import { expectError, expectEvents, frame, parseOne } from './helpers.js';

/** A parser for streaming tests; returns it with the frames it has delivered. */
function streamingParser(options: ParserOptions, version: StompVersion | null = '1.2') {
  let frames = 0;
  const parser = new FrameParser({ onFrame: () => frames++, onHeartbeat() {} }, options);
  parser.version = version;
  return { parser, frames: () => frames };
}

function throwsCode(fn: () => void, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof StompError && e.code === code);
}

describe('L-01 maxCommandLength', () => {
  const options = { maxCommandLength: 4 };

  test('L-01 a command of exactly maxCommandLength bytes is accepted', () => {
    expectEvents(Buffer.from('SEND\n\n\0'), [frame('SEND')], { version: '1.2', options });
  });

  test('L-01 one byte more -> COMMAND_TOO_LONG', () => {
    expectError(Buffer.from('SENDX\n\n\0'), 'COMMAND_TOO_LONG', { version: '1.2', options });
  });

  test('L-01 the CR of a CRLF does not count against the limit', () => {
    expectEvents(Buffer.from('SEND\r\n\n\0'), [frame('SEND')], { version: '1.2', options });
  });

  test('L-01 a command line that never ends fails before it is buffered', () => {
    const { parser } = streamingParser(options);
    parser.push(Buffer.from('SEND'));
    throwsCode(() => parser.push(Buffer.alloc(1 << 20, 'A')), 'COMMAND_TOO_LONG');
    assert.ok(parser.bufferedBytes <= 5, `buffered ${parser.bufferedBytes}`);
  });

  test('L-01 default: UNSUBSCRIBE fits; a 33-byte command -> COMMAND_TOO_LONG', () => {
    assert.equal(DEFAULT_OPTIONS.maxCommandLength, 32);
    expectEvents(Buffer.from('UNSUBSCRIBE\nid:1\n\n\0'), [frame('UNSUBSCRIBE', ['id', '1'])], {
      version: '1.2',
    });
    expectEvents(Buffer.from(`${'A'.repeat(32)}\n\n\0`), [frame('A'.repeat(32))], {
      version: '1.2',
    });
    expectError(Buffer.from(`${'A'.repeat(33)}\n\n\0`), 'COMMAND_TOO_LONG', { version: '1.2' });
  });
});

describe('L-01 maxHeaderLineLength', () => {
  const options = { maxHeaderLineLength: 10 };

  test('L-01 a header line of exactly maxHeaderLineLength bytes is accepted', () => {
    const f = parseOne(Buffer.from('SEND\nabcde:1234\n\n\0'), { version: '1.2', options });
    assert.equal(f.header('abcde'), '1234');
  });

  test('L-01 one byte more -> HEADER_TOO_LONG', () => {
    expectError(Buffer.from('SEND\nabcde:12345\n\n\0'), 'HEADER_TOO_LONG', {
      version: '1.2',
      options,
    });
  });

  test('L-01 1.2: the CR of a CRLF does not count against the limit', () => {
    const f = parseOne(Buffer.from('SEND\r\nabcde:1234\r\n\r\n\0'), { version: '1.2', options });
    assert.equal(f.header('abcde'), '1234');
  });

  test('L-01 1.1: a CR before LF is part of the value, so it counts (F-02)', () => {
    expectError(Buffer.from('SEND\nabcde:1234\r\n\n\0'), 'HEADER_TOO_LONG', {
      version: '1.1',
      options,
    });
  });

  test('L-01 the limit applies to the line before unescaping', () => {
    // "a:\\c\\c\\c\\c" is 10 bytes on the wire and decodes to 4 colons.
    const f = parseOne(Buffer.from('SEND\na:\\c\\c\\c\\c\n\n\0'), { version: '1.2', options });
    assert.equal(f.header('a'), '::::');
    expectError(Buffer.from('SEND\na:\\c\\c\\c\\cx\n\n\0'), 'HEADER_TOO_LONG', {
      version: '1.2',
      options,
    });
  });

  test('L-01 a header line that never ends fails before it is buffered', () => {
    const { parser } = streamingParser(options);
    parser.push(Buffer.from('SEND\nabc'));
    for (let i = 0; i < 8; i++) parser.push(Buffer.from('d'));
    throwsCode(() => parser.push(Buffer.alloc(1 << 20, 'e')), 'HEADER_TOO_LONG');
    assert.ok(parser.bufferedBytes <= 11, `buffered ${parser.bufferedBytes}`);
  });

  test('L-01 1.P-12 applies before CONNECT too', () => {
    expectError(Buffer.from('CONNECT\nlogin:abcdefgh\n\n\0'), 'HEADER_TOO_LONG', { options });
  });
});

describe('L-01 maxHeaders', () => {
  const options = { maxHeaders: 2 };

  test('L-01 exactly maxHeaders headers are accepted', () => {
    const f = parseOne(Buffer.from('SEND\na:1\nb:2\n\n\0'), { version: '1.2', options });
    assert.equal(f.headers.length, 4);
  });

  test('L-01 one more -> TOO_MANY_HEADERS', () => {
    expectError(Buffer.from('SEND\na:1\nb:2\nc:3\n\n\0'), 'TOO_MANY_HEADERS', {
      version: '1.2',
      options,
    });
  });

  test('L-01 repeated headers count (E-06 keeps them all)', () => {
    expectError(Buffer.from('SEND\na:1\na:1\na:1\n\n\0'), 'TOO_MANY_HEADERS', {
      version: '1.2',
      options,
    });
  });

  test('L-01 the count starts again for each frame', () => {
    expectEvents(
      Buffer.from('SEND\na:1\nb:2\n\n\0SEND\nc:3\nd:4\n\n\0'),
      [frame('SEND', ['a', '1', 'b', '2']), frame('SEND', ['c', '3', 'd', '4'])],
      { version: '1.2', options },
    );
  });
});

describe('L-01 maxFrameSize (header section plus body)', () => {
  // "SEND\n" (5) + "\n" (1) = 6 bytes of header section; the NUL is not counted.
  const options = { maxFrameSize: 16 };

  test('L-01 without content-length: a frame of exactly maxFrameSize bytes is accepted', () => {
    const f = parseOne(Buffer.from(`SEND\n\n${'x'.repeat(10)}\0`), { version: '1.2', options });
    assert.equal(f.body.length, 10);
  });

  test('L-01 without content-length: one body byte more -> FRAME_TOO_LARGE', () => {
    expectError(Buffer.from(`SEND\n\n${'x'.repeat(11)}\0`), 'FRAME_TOO_LARGE', {
      version: '1.2',
      options,
    });
  });

  test('L-01 with content-length: exactly maxFrameSize bytes is accepted', () => {
    // "SEND\n" 5 + "content-length:9\n" 17 + "\n" 1 = 23; body 9 -> 32.
    const f = parseOne(Buffer.from(`SEND\ncontent-length:9\n\n${'y'.repeat(9)}\0`), {
      version: '1.2',
      options: { maxFrameSize: 32 },
    });
    assert.equal(f.body.length, 9);
  });

  test('L-01 with content-length: one byte more -> FRAME_TOO_LARGE', () => {
    expectError(Buffer.from(`SEND\ncontent-length:10\n\n${'y'.repeat(10)}\0`), 'FRAME_TOO_LARGE', {
      version: '1.2',
      options: { maxFrameSize: 33 },
    });
  });

  test('L-01 a too large content-length is rejected at the blank line, before any body byte', () => {
    const { parser } = streamingParser({ maxFrameSize: 4096 });
    throwsCode(
      () => parser.push(Buffer.from('SEND\ndestination:/a\ncontent-length:1000000\n\n')),
      'FRAME_TOO_LARGE',
    );
    assert.equal(parser.bufferedBytes, 0);
  });

  test('L-01 a huge content-length is FRAME_TOO_LARGE, not an allocation failure', () => {
    for (const n of ['9007199254740993', '99999999999999999999999999999']) {
      expectError(Buffer.from(`SEND\ncontent-length:${n}\n\n\0`), 'FRAME_TOO_LARGE', {
        version: '1.2',
        options: { maxFrameSize: 4096 },
      });
    }
  });

  test('L-01 a body without content-length fails as soon as it passes the limit', () => {
    const { parser } = streamingParser({ maxFrameSize: 4096 });
    parser.push(Buffer.from('SEND\n\n'));
    parser.push(Buffer.alloc(4000, 'x'));
    throwsCode(() => parser.push(Buffer.alloc(1 << 20, 'x')), 'FRAME_TOO_LARGE');
    assert.ok(parser.bufferedBytes <= 4096, `buffered ${parser.bufferedBytes}`);
  });

  test('L-01 many short header lines add up to FRAME_TOO_LARGE', () => {
    expectError(Buffer.from('SEND\na:1\nb:2\nc:3\nd:4\n\n\0'), 'FRAME_TOO_LARGE', {
      version: '1.2',
      options,
    });
  });

  test('L-01 heart-beats before a frame do not count towards its size', () => {
    expectEvents(
      Buffer.from(`\n\n\n\nSEND\n\n${'x'.repeat(10)}\0`),
      ['heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', frame('SEND', [], 'x'.repeat(10))],
      { version: '1.2', options },
    );
  });

  test('L-01 the size starts again for each frame', () => {
    const one = `SEND\n\n${'x'.repeat(10)}\0`;
    const result = expectEvents(
      Buffer.from(one + one),
      [frame('SEND', [], 'x'.repeat(10)), frame('SEND', [], 'x'.repeat(10))],
      { version: '1.2', options },
    );
    assert.equal(result.error, undefined);
  });

  test('L-01 1.P-12 an oversized CONNECT before authentication -> FRAME_TOO_LARGE', () => {
    expectError(
      Buffer.from(`CONNECT\naccept-version:1.2\nlogin:${'u'.repeat(20)}\n\n\0`),
      'FRAME_TOO_LARGE',
      { options: { maxFrameSize: 32 } },
    );
  });

  test('L-01 bufferedBytes goes back to 0 after a frame', () => {
    const { parser, frames } = streamingParser({ maxFrameSize: 4096 });
    parser.push(Buffer.from('SEND\ncontent-length:3000\n\n'));
    parser.push(Buffer.alloc(1500, 'z'));
    assert.equal(parser.bufferedBytes, 1500);
    parser.push(Buffer.alloc(1500, 'z'));
    parser.push(Buffer.from([0]));
    assert.equal(frames(), 1);
    assert.equal(parser.bufferedBytes, 0);
  });
});

describe('L-01 a failed parser stays failed', () => {
  test('L-01 after a limit error every push throws the same error', () => {
    const { parser } = streamingParser({ maxCommandLength: 4 });
    let first: unknown;
    try {
      parser.push(Buffer.from('SUBSCRIBE\n'));
    } catch (e) {
      first = e;
    }
    assert.ok(first instanceof StompError && first.code === 'COMMAND_TOO_LONG');
    assert.throws(
      () => parser.push(Buffer.from('SEND\n\n\0')),
      (e: unknown) => e === first,
    );
    assert.throws(
      () => parser.push(Buffer.from('\n')),
      (e: unknown) => e === first,
    );
  });
});
