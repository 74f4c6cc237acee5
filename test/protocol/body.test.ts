/**
 * Bodies and content-length on decode: B-01, B-02, B-03, B-04, B-07, 1.P items 2 and 6.
 * (The encoder side of B-04 is in encoder.test.ts.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_COMMANDS } from '../../src/protocol/index.js';
import { expectError, expectEvents, frame, parseOne } from './helpers.js';

describe('B-01 which commands carry a body', () => {
  test('B-01 only SEND, MESSAGE and ERROR may have a body', () => {
    assert.deepStrictEqual([...BODY_COMMANDS].sort(), ['ERROR', 'MESSAGE', 'SEND']);
  });

  test('B-01 the codec hands a body on a non-body command to the session, which decides', () => {
    // 1.0: "The body of the SUBSCRIBE command is ignored"; 1.1+: MUST NOT have one. The
    // parser cannot apply either rule alone, so it must deliver the body intact.
    const f = parseOne(Buffer.from('SUBSCRIBE\nid:1\ndestination:/a\n\nstray\0'), {
      version: '1.2',
    });
    assert.equal(f.command, 'SUBSCRIBE');
    assert.equal(f.body.toString(), 'stray');
  });
});

describe('B-02 content-length counts body octets, NULs included', () => {
  test('B-02, 1.P-2 exactly content-length octets are read regardless of NULs inside', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\ncontent-length:5\n\na\0b\0c\0'),
      [frame('SEND', ['destination', '/a', 'content-length', '5'], Buffer.from('a\0b\0c'))],
      { version: '1.2' },
    );
  });

  test('B-02 content-length is in octets, not characters', () => {
    const f = parseOne(Buffer.from('SEND\ncontent-length:5\n\n\u00e9\u20ac\0'), { version: '1.2' });
    assert.equal(f.body.toString(), '\u00e9\u20ac');
    assert.equal(f.body.length, 5);
  });

  test('B-02 content-length:0 is an empty body followed by NUL', () => {
    expectEvents(
      Buffer.from('SEND\ncontent-length:0\n\n\0\n'),
      [frame('SEND', ['content-length', '0']), 'heartbeat'],
      { version: '1.2' },
    );
  });

  test('B-02 a body of only NULs', () => {
    const f = parseOne(Buffer.from('MESSAGE\ncontent-length:3\n\n\0\0\0\0'), { version: '1.1' });
    assert.deepStrictEqual(f.body, Buffer.alloc(3));
  });

  test('B-02 a body that looks like frames is still body', () => {
    const inner = 'SEND\n\nx\0\n';
    const f = parseOne(Buffer.from(`SEND\ncontent-length:${inner.length}\n\n${inner}\0`), {
      version: '1.2',
    });
    assert.equal(f.body.toString(), inner);
  });

  test('B-02 1.0: a content-length written with spaces is trimmed and honoured (F-10)', () => {
    const f = parseOne(Buffer.from('SEND\ncontent-length: 3 \n\na\0b\0'), { version: '1.0' });
    assert.deepStrictEqual(f.body, Buffer.from('a\0b'));
  });

  test('B-02 content-length with leading zeros is the same number', () => {
    const f = parseOne(Buffer.from('SEND\ncontent-length:002\n\nab\0'), { version: '1.2' });
    assert.equal(f.body.toString(), 'ab');
  });

  test('B-02 a long run of leading zeros is still a small number', () => {
    // 19 digits, value 2: a valid octet count; it is not a frame larger than maxFrameSize.
    const f = parseOne(Buffer.from('SEND\ncontent-length:0000000000000000002\n\nab\0'), {
      version: '1.2',
    });
    assert.equal(f.body.toString(), 'ab');
  });
});

describe('B-03 without content-length the body ends at the first NUL', () => {
  test('B-03, 1.P-2 an embedded NUL without content-length ends the body', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\n\nab\0\nSEND\ndestination:/a\n\ncd\0'),
      [
        frame('SEND', ['destination', '/a'], 'ab'),
        'heartbeat',
        frame('SEND', ['destination', '/a'], 'cd'),
      ],
      { version: '1.2' },
    );
  });

  test('B-03 an empty body', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\n\n\0'),
      [frame('SEND', ['destination', '/a'])],
      {
        version: '1.2',
      },
    );
  });

  test('B-03 a body with CR, LF and binary octets but no NUL', () => {
    const body = Buffer.from([0x0d, 0x0a, 0xff, 0x80, 0x0a, 0x0a, 0x01]);
    const bytes = Buffer.concat([Buffer.from('SEND\n\n'), body, Buffer.from([0])]);
    expectEvents(bytes, [frame('SEND', [], body)], { version: '1.2' });
  });
});

describe('E-06, 1.P-6 duplicate content-length: the first counts', () => {
  test('1.P-6 the first content-length decides the body length', () => {
    const f = parseOne(Buffer.from('SEND\ncontent-length:2\ncontent-length:5\n\na\0\0'), {
      version: '1.2',
    });
    assert.deepStrictEqual(f.body, Buffer.from('a\0'));
    assert.equal(f.header('content-length'), '2');
  });

  test('1.P-6 an invalid second content-length is ignored', () => {
    const f = parseOne(Buffer.from('SEND\ncontent-length:2\ncontent-length:x\n\nab\0'), {
      version: '1.2',
    });
    assert.equal(f.body.toString(), 'ab');
  });

  test('1.P-6 an invalid first content-length is fatal even if a later one is valid', () => {
    expectError(
      Buffer.from('SEND\ncontent-length:x\ncontent-length:2\n\nab\0'),
      'INVALID_CONTENT_LENGTH',
      {
        version: '1.2',
      },
    );
  });
});

describe('B-07 content-length that does not fit the frame', () => {
  test('B-07 content-length present and the octet after the body is not NUL -> MISSING_NUL', () => {
    expectError(Buffer.from('SEND\ncontent-length:2\n\nabc\0'), 'MISSING_NUL', { version: '1.2' });
  });

  test('B-07 content-length:0 and a body -> MISSING_NUL', () => {
    expectError(Buffer.from('SEND\ncontent-length:0\n\nx\0'), 'MISSING_NUL', { version: '1.2' });
  });

  test('B-07 a good frame before the bad one is still delivered', () => {
    expectError(
      Buffer.from('SEND\ncontent-length:1\n\na\0SEND\ncontent-length:1\n\nab\0'),
      'MISSING_NUL',
      { version: '1.2' },
      [frame('SEND', ['content-length', '1'], 'a')],
    );
  });

  for (const value of ['abc', '-1', '', ' 5', '5 ', '+5', '5.0', '0x10', '1e3', '\u0665']) {
    test(`B-07 content-length:${JSON.stringify(value)} -> INVALID_CONTENT_LENGTH`, () => {
      expectError(Buffer.from(`SEND\ncontent-length:${value}\n\n\0`), 'INVALID_CONTENT_LENGTH', {
        version: '1.2',
      });
    });
  }

  test('B-07 1.0: content-length " " (only spaces, trimmed to empty) -> INVALID_CONTENT_LENGTH', () => {
    expectError(Buffer.from('SEND\ncontent-length:  \n\n\0'), 'INVALID_CONTENT_LENGTH', {
      version: '1.0',
    });
  });

  test('B-07 1.1: an escaped content-length value is decoded first (\\c is ":") -> INVALID_CONTENT_LENGTH', () => {
    expectError(Buffer.from('SEND\ncontent-length:1\\c\n\n\0'), 'INVALID_CONTENT_LENGTH', {
      version: '1.1',
    });
  });
});
