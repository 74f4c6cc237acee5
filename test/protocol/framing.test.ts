/**
 * Frame structure, EOLs, heart-beats and header-line splitting: F-01, F-02, F-03, F-09,
 * F-10, 1.P items 1 and 5. Every stream goes through parseEveryWay (whole, every split,
 * byte by byte, with and without pause/resume).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, type Frame } from '../../src/protocol/index.js';
import { HB, expectError, expectEvents, frame, parseEveryWay, parseOne } from './helpers.js';

describe('F-01 frame structure', () => {
  test('F-01 command, headers, blank line, body, NUL', () => {
    expectEvents(Buffer.from('SEND\ndestination:/queue/a\n\nhi\0'), [
      frame('SEND', ['destination', '/queue/a'], 'hi'),
    ]);
  });

  test('F-01 a frame without headers and without body', () => {
    expectEvents(Buffer.from('DISCONNECT\n\n\0'), [frame('DISCONNECT')]);
  });

  test('F-01 headers are kept in wire order', () => {
    const f = parseOne(Buffer.from('SEND\nz:1\na:2\nm:3\n\n\0'), { version: '1.2' });
    assert.deepStrictEqual(f.entries(), [
      ['z', '1'],
      ['a', '2'],
      ['m', '3'],
    ]);
  });

  test('F-01, 1.P-1 several frames in one chunk, in order', () => {
    expectEvents(
      Buffer.from(
        'SEND\ndestination:/a\n\none\0SEND\ndestination:/b\n\ntwo\0BEGIN\ntransaction:t\n\n\0',
      ),
      [
        frame('SEND', ['destination', '/a'], 'one'),
        frame('SEND', ['destination', '/b'], 'two'),
        frame('BEGIN', ['transaction', 't']),
      ],
      { version: '1.2' },
    );
  });

  test('F-01 a frame is only delivered once its NUL has arrived', () => {
    const result = parseEveryWay(Buffer.from('SEND\ndestination:/a\n\nhello'), { version: '1.2' });
    assert.equal(result.error, undefined);
    assert.deepStrictEqual(result.events, []);
    assert.equal(result.idle, false);
  });

  test('F-01 idle is true between frames and false inside one', () => {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    assert.equal(p.idle, true);
    p.push(Buffer.from('SEND\n'));
    assert.equal(p.idle, false);
    p.push(Buffer.from('\nx\0'));
    assert.equal(p.idle, true);
    assert.equal(frames.length, 1);
    assert.equal(p.bufferedBytes, 0);
  });

  test('F-01 a body is copied out of the chunk it arrived in', () => {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    p.version = '1.2';
    const chunk = Buffer.from('SEND\n\nabc\0SEND\ncontent-length:3\n\ndef\0');
    p.push(chunk);
    chunk.fill(0);
    assert.deepStrictEqual(
      frames.map((f) => f.body.toString()),
      ['abc', 'def'],
    );
  });
});

describe('F-02 EOL: CRLF in 1.2 and before CONNECT, LF only in 1.0 and 1.1', () => {
  test('F-02 1.2 accepts CRLF on the command line, every header line and the blank line', () => {
    expectEvents(
      Buffer.from('SEND\r\ndestination:/queue/a\r\nreceipt:7\r\n\r\nhi\0'),
      [frame('SEND', ['destination', '/queue/a', 'receipt', '7'], 'hi')],
      { version: '1.2' },
    );
  });

  test('F-02 1.2 accepts LF and CRLF mixed within one frame', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\r\nreceipt:1\n\r\nhi\0'),
      [frame('SEND', ['destination', '/a', 'receipt', '1'], 'hi')],
      { version: '1.2' },
    );
  });

  test('F-02 pre-CONNECT (version null) accepts CRLF: the version is not known yet', () => {
    expectEvents(Buffer.from('CONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\0'), [
      frame('CONNECT', ['accept-version', '1.2', 'host', '/']),
    ]);
  });

  test('F-02 1.1: a CR before LF in a header is an octet of the value', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\r\nx\r:y\n\nhi\0'),
      [frame('SEND', ['destination', '/a\r', 'x\r', 'y'], 'hi')],
      { version: '1.1' },
    );
  });

  test('F-02 1.1: a raw CR inside a value is kept (1.1 grammar excludes only LF and ":")', () => {
    const f = parseOne(Buffer.from('SEND\nx:a\rb\n\n\0'), { version: '1.1' });
    assert.equal(f.header('x'), 'a\rb');
  });

  test('F-02 1.0: a CR inside a value is kept', () => {
    const f = parseOne(Buffer.from('SEND\nx:a\rb\n\n\0'), { version: '1.0' });
    assert.equal(f.header('x'), 'a\rb');
  });

  test('F-02 1.0: a CR before LF is part of the value, then trimmed as whitespace (F-10 policy)', () => {
    const f = parseOne(Buffer.from('SEND\ndestination:/a\r\n\n\0'), { version: '1.0' });
    assert.equal(f.header('destination'), '/a');
  });

  test('F-02 policy: a lone CR line ends the headers in 1.0 and 1.1 too (no header is just CR)', () => {
    for (const version of ['1.0', '1.1'] as const) {
      expectEvents(
        Buffer.from('SEND\ndestination:/a\n\r\nhi\0'),
        [frame('SEND', ['destination', '/a'], 'hi')],
        { version },
      );
    }
  });

  test('F-02 policy: the command line may end in CRLF in every version (commands never hold CR)', () => {
    for (const version of [null, '1.0', '1.1', '1.2'] as const) {
      expectEvents(Buffer.from('DISCONNECT\r\n\n\0'), [frame('DISCONNECT')], { version });
    }
  });

  test('F-02, F-09, 1.P-5 1.2: a CR inside a header value is not an EOL -> INVALID_EOL', () => {
    expectError(Buffer.from('SEND\ndestination:/a\rb\n\n\0'), 'INVALID_EOL', { version: '1.2' });
  });

  test('F-02, F-09, 1.P-5 1.2: a CR inside a header name -> INVALID_EOL', () => {
    expectError(Buffer.from('SEND\nx\ry:1\n\n\0'), 'INVALID_EOL', { version: '1.2' });
  });

  test('F-02, 1.P-5 1.2: a CR before CRLF is a bare CR -> INVALID_EOL', () => {
    expectError(Buffer.from('SEND\ndestination:/a\r\r\n\n\0'), 'INVALID_EOL', { version: '1.2' });
  });
});

describe('F-03 EOLs between frames are heart-beats', () => {
  test('F-03 EOLs after the NUL are heart-beats, LF and CRLF alike', () => {
    expectEvents(
      Buffer.from('SEND\ndestination:/a\n\nhi\0\n\r\n\n'),
      [frame('SEND', ['destination', '/a'], 'hi'), HB, HB, HB],
      { version: '1.2' },
    );
  });

  test('F-03 EOLs before the first frame and between frames are heart-beats', () => {
    expectEvents(Buffer.from('\n\r\nCONNECT\naccept-version:1.2\n\n\0\nDISCONNECT\n\n\0'), [
      HB,
      HB,
      frame('CONNECT', ['accept-version', '1.2']),
      HB,
      frame('DISCONNECT'),
    ]);
  });

  test('F-03, 1.P-1 a chunk that is just LF is one heart-beat', () => {
    for (const version of [null, '1.0', '1.1', '1.2'] as const) {
      expectEvents(Buffer.from('\n'), [HB], { version });
    }
  });

  test('F-03 a CRLF heart-beat counts once', () => {
    expectEvents(Buffer.from('\r\n'), [HB], { version: '1.2' });
  });

  test('F-03 a CR that has not yet seen its LF is not a heart-beat yet', () => {
    const result = parseEveryWay(Buffer.from('\r'), { version: '1.2' });
    assert.deepStrictEqual(result.events, []);
    assert.equal(result.error, undefined);
    assert.equal(result.idle, false);
  });

  test('F-03, 1.P-5 a bare CR followed by a command between frames -> INVALID_EOL', () => {
    expectError(
      Buffer.from('SEND\ndestination:/a\n\nhi\0\rSEND\ndestination:/a\n\nhi\0'),
      'INVALID_EOL',
      { version: '1.2' },
      [frame('SEND', ['destination', '/a'], 'hi')],
    );
  });

  test('F-03, 1.P-5 two CRs in a row between frames -> INVALID_EOL', () => {
    expectError(Buffer.from('\n\r\r\n'), 'INVALID_EOL', { version: '1.2' }, [HB]);
  });

  test('F-03, 1.P-5 a bare CR before the first frame -> INVALID_EOL', () => {
    expectError(Buffer.from('\rCONNECT\n\n\0'), 'INVALID_EOL');
  });
});

describe('F-09 a header line is split on its first colon', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    test(`F-09 ${version}: later colons belong to the value (lenient read)`, () => {
      const f = parseOne(Buffer.from('SEND\ndestination:/a\nurl:http://x:80/p\n\n\0'), {
        version,
      });
      assert.equal(f.header('url'), 'http://x:80/p');
    });
  }

  test('F-09 an empty value is allowed', () => {
    const f = parseOne(Buffer.from('SEND\nx:\n\n\0'), { version: '1.2' });
    assert.deepStrictEqual(f.headers, ['x', '']);
  });

  test('F-09 a header line without a colon -> MALFORMED_HEADER', () => {
    expectError(Buffer.from('SEND\ndestination\n\n\0'), 'MALFORMED_HEADER', { version: '1.2' });
  });

  test('F-09 an empty header name -> MALFORMED_HEADER', () => {
    for (const version of [null, '1.0', '1.1', '1.2'] as const) {
      expectError(Buffer.from('SEND\n:value\n\n\0'), 'MALFORMED_HEADER', { version });
    }
  });
});

describe('F-10 no trimming in 1.1+, trimming in 1.0', () => {
  for (const version of ['1.1', '1.2'] as const) {
    test(`F-10 ${version}: spaces around names and values are kept`, () => {
      const f = parseOne(Buffer.from('SEND\n key : value \n\n\0'), { version });
      assert.deepStrictEqual(f.headers, [' key ', ' value ']);
    });
  }

  test('F-10 1.0: names and values are trimmed ("login: <username>" as in the 1.0 spec)', () => {
    const f = parseOne(Buffer.from('SEND\nlogin: guest\n receipt :\t1 \n\n\0'), {
      version: '1.0',
    });
    assert.deepStrictEqual(f.headers, ['login', 'guest', 'receipt', '1']);
  });

  test('F-10 1.0: inner spaces are kept', () => {
    const f = parseOne(Buffer.from('SEND\nx: a b \n\n\0'), { version: '1.0' });
    assert.equal(f.header('x'), 'a b');
  });

  test('F-10 pre-CONNECT (version null): no trimming', () => {
    const f = parseOne(Buffer.from('CONNECT\nlogin: guest \n\n\0'));
    assert.equal(f.header('login'), ' guest ');
  });
});
