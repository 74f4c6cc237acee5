/**
 * Header escaping on decode and repeated headers: E-01, E-02, E-03, E-05, E-06,
 * 1.P items 3, 4 and 6. (Encoder escaping, E-04, is in encoder.test.ts.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeaderBytes, FrameParser, type Frame } from '../../src/protocol/index.js';
import { StompError } from '../../src/errors.js';
import { expectError, frame, parseEveryWay, parseOne } from './helpers.js';

describe('E-01 1.0 has no escaping', () => {
  test('E-01 backslash sequences are literal in 1.0', () => {
    const f = parseOne(Buffer.from('SEND\ndestination:/a\\cb\\n\\\\\\r\n\n\0'), { version: '1.0' });
    assert.equal(f.header('destination'), '/a\\cb\\n\\\\\\r');
  });

  test('E-01 \\t and a lone trailing backslash are not errors in 1.0', () => {
    const f = parseOne(Buffer.from('SEND\nx:a\\tb\ny:c\\\n\n\0'), { version: '1.0' });
    assert.deepStrictEqual(f.headers, ['x', 'a\\tb', 'y', 'c\\']);
  });
});

describe('E-02 1.1 escapes', () => {
  test('E-02 \\n, \\c and \\\\ decode in values', () => {
    const f = parseOne(Buffer.from('SEND\nx:a\\nb\\cc\\\\d\n\n\0'), { version: '1.1' });
    assert.equal(f.header('x'), 'a\nb:c\\d');
  });

  test('E-02 escapes decode in header names too', () => {
    const f = parseOne(Buffer.from('SEND\na\\cb\\nc\\\\d:1\n\n\0'), { version: '1.1' });
    assert.deepStrictEqual(f.headers, ['a:b\nc\\d', '1']);
  });

  test('E-02 \\\\c is an escaped backslash followed by c, not a colon', () => {
    const f = parseOne(Buffer.from('SEND\nx:\\\\c\n\n\0'), { version: '1.1' });
    assert.equal(f.header('x'), '\\c');
  });

  test('E-02 \\r is undefined in 1.1 -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\nx:a\\rb\n\n\0'), 'INVALID_ESCAPE', { version: '1.1' });
  });

  test('E-02, 1.P-4 \\t -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\nx:a\\tb\n\n\0'), 'INVALID_ESCAPE', { version: '1.1' });
  });

  test('E-02, 1.P-4 a lone backslash at the end of a value -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\nx:ab\\\n\n\0'), 'INVALID_ESCAPE', { version: '1.1' });
  });

  test('E-02 an undefined escape in a header name -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\na\\tb:1\n\n\0'), 'INVALID_ESCAPE', { version: '1.1' });
  });
});

describe('E-03 1.2 escapes', () => {
  test('E-03 \\r, \\n, \\c and \\\\ decode', () => {
    const f = parseOne(Buffer.from('SEND\nx:\\r\\n\\c\\\\\n\n\0'), { version: '1.2' });
    assert.equal(f.header('x'), '\r\n:\\');
  });

  test('E-03 a decoded CR is allowed where a raw CR is not', () => {
    const f = parseOne(Buffer.from('SEND\na\\rb:c\\rd\r\n\r\n\0'), { version: '1.2' });
    assert.deepStrictEqual(f.headers, ['a\rb', 'c\rd']);
  });

  test('E-03, 1.P-4 \\t -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\nx:a\\tb\n\n\0'), 'INVALID_ESCAPE', { version: '1.2' });
  });

  test('E-03 any other escape (\\x, \\C, \\0, \\:, \\ , \\é) -> INVALID_ESCAPE', () => {
    for (const esc of ['\\x', '\\C', '\\0', '\\:', '\\ ', '\\\u00e9']) {
      expectError(Buffer.from(`SEND\nx:a${esc}b\n\n\0`), 'INVALID_ESCAPE', { version: '1.2' });
    }
  });

  test('E-03, 1.P-4 a lone backslash at the end of a value -> INVALID_ESCAPE', () => {
    expectError(Buffer.from('SEND\nx:ab\\\r\n\r\n\0'), 'INVALID_ESCAPE', { version: '1.2' });
  });

  test('E-03 a backslash right before the separating colon ends the name -> INVALID_ESCAPE', () => {
    // The raw colon separates; the name "na\" then ends in a lone backslash.
    expectError(Buffer.from('SEND\nna\\:v\n\n\0'), 'INVALID_ESCAPE', { version: '1.2' });
  });

  test('E-03 escapes next to multi-byte UTF-8 decode byte-exactly', () => {
    const f = parseOne(Buffer.from('SEND\nd\u00e9\\cst:\u20ac\\n\ud83d\ude00\\\\\n\n\0'), {
      version: '1.2',
    });
    assert.deepStrictEqual(f.headers, ['d\u00e9:st', '\u20ac\n\ud83d\ude00\\']);
  });
});

describe('1.P-4 a chunk ending between a backslash and its escape character', () => {
  for (const version of ['1.1', '1.2'] as const) {
    test(`1.P-4 ${version}: "\\" + "c" in two chunks decodes to ":"`, () => {
      const frames: Frame[] = [];
      const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
      p.version = version;
      p.push(Buffer.from('SEND\ndestination:/a\\'));
      p.push(Buffer.from('cb\\'));
      p.push(Buffer.from('\\x\n\n\0'));
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.header('destination'), '/a:b\\x');
    });

    test(`1.P-4 ${version}: "\\" + "t" in two chunks is still INVALID_ESCAPE`, () => {
      const p = new FrameParser({ onFrame() {}, onHeartbeat() {} });
      p.version = version;
      p.push(Buffer.from('SEND\nx:a\\'));
      assert.throws(
        () => p.push(Buffer.from('t\n\n\0')),
        (e: unknown) => e instanceof StompError && e.code === 'INVALID_ESCAPE',
      );
    });
  }
});

describe('E-05 CONNECT, STOMP and CONNECTED are never unescaped', () => {
  test('E-05, 1.P-3 pre-CONNECT: a passcode with ":" and "\\" is taken literally', () => {
    const f = parseOne(
      Buffer.from('CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:p:a\\s\\cs\n\n\0'),
    );
    assert.equal(f.header('login'), 'guest');
    assert.equal(f.header('passcode'), 'p:a\\s\\cs');
  });

  test('E-05, 1.P-3 pre-CONNECT: \\t and a trailing backslash in CONNECT are not errors', () => {
    const f = parseOne(Buffer.from('CONNECT\nlogin:a\\tb\npasscode:secret\\\n\n\0'));
    assert.deepStrictEqual(f.headers, ['login', 'a\\tb', 'passcode', 'secret\\']);
  });

  for (const version of ['1.1', '1.2'] as const) {
    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      test(`E-05 ${version}: ${command} headers are not unescaped`, () => {
        const f = parseOne(Buffer.from(`${command}\npasscode:a\\cb\\\\c\\t\n\n\0`), { version });
        assert.equal(f.header('passcode'), 'a\\cb\\\\c\\t');
      });
    }
  }

  test('E-05 pre-CONNECT: other commands are not unescaped either (no version yet)', () => {
    const f = parseOne(Buffer.from('SEND\ndestination:/a\\cb\n\n\0'));
    assert.equal(f.header('destination'), '/a\\cb');
  });

  test('E-05 decodeConnectEscapes: CONNECT headers are unescaped when a version is set', () => {
    const f = parseOne(Buffer.from('CONNECT\nlogin:guest\npasscode:a\\cb\\\\c\n\n\0'), {
      version: '1.2',
      options: { decodeConnectEscapes: true },
    });
    assert.equal(f.header('passcode'), 'a:b\\c');
  });

  test('E-05 decodeConnectEscapes: an invalid escape in CONNECT is then fatal', () => {
    expectError(Buffer.from('CONNECT\npasscode:a\\tb\n\n\0'), 'INVALID_ESCAPE', {
      version: '1.2',
      options: { decodeConnectEscapes: true },
    });
  });

  test('E-05, 1.P-3 decodeConnectEscapes: the first CONNECT (pre-CONNECT, version null) is unescaped', () => {
    // The option exists for clients that escape their passcode; the CONNECT they send is
    // always read with version null, so the option must act there. \c and \\ are valid in
    // both 1.1 and 1.2, so this does not depend on which escape set applies.
    const f = parseOne(
      Buffer.from(
        'CONNECT\naccept-version:1.1,1.2\nhost:/\nlogin:guest\npasscode:a\\cb\\\\c\n\n\0',
      ),
      { options: { decodeConnectEscapes: true } },
    );
    assert.equal(f.header('passcode'), 'a:b\\c');
  });

  test('E-05 decodeHeaderBytes with version null or 1.0 returns the bytes as they are', () => {
    const buf = Buffer.from('a\\cb\\t\\');
    assert.equal(decodeHeaderBytes(buf, 0, buf.length, null), 'a\\cb\\t\\');
    assert.equal(decodeHeaderBytes(buf, 0, buf.length, '1.0'), 'a\\cb\\t\\');
    assert.throws(() => decodeHeaderBytes(buf, 0, buf.length, '1.2'), StompError);
  });
});

describe('E-06, 1.P-6 repeated headers: the first one wins', () => {
  test('E-06 frame.header() returns the first of repeated headers; all are kept in order', () => {
    const f = parseOne(Buffer.from('MESSAGE\nfoo:World\nfoo:Hello\n\n\0'), { version: '1.2' });
    assert.equal(f.header('foo'), 'World');
    assert.deepStrictEqual(f.headers, ['foo', 'World', 'foo', 'Hello']);
  });

  test('E-06, 1.P-6 duplicate destination: the first counts', () => {
    const f = parseOne(Buffer.from('SEND\ndestination:/queue/a\ndestination:/queue/b\n\nx\0'), {
      version: '1.2',
    });
    assert.equal(f.header('destination'), '/queue/a');
  });

  test('E-06 a repeated header that is an escaped spelling of the same name counts as repeat', () => {
    const f = parseOne(Buffer.from('SEND\na\\cb:1\na:b:2\n\n\0'), { version: '1.2' });
    // "a\cb" decodes to "a:b"; the raw "a:b:2" is name "a", value "b:2" (F-09).
    assert.equal(f.header('a:b'), '1');
    assert.equal(f.header('a'), 'b:2');
  });

  test('E-06 header() and has() on a missing header', () => {
    const f = parseOne(Buffer.from('SEND\nx:1\n\n\0'), { version: '1.2' });
    assert.equal(f.header('y'), undefined);
    assert.equal(f.has('y'), false);
    assert.equal(f.has('x'), true);
  });
});

describe('version changes between frames (pause/resume)', () => {
  const stream = Buffer.from(
    'CONNECT\naccept-version:1.2\nhost:/\npasscode:a\\cb\n\n\0' +
      'SEND\r\ndestination:/a\\cb\r\n\r\nhi\0',
  );

  test('C-11, E-03 frames after CONNECT are read with the negotiated version', () => {
    const result = parseEveryWay(stream, {
      switchVersion: (f) => (f.command === 'CONNECT' ? '1.2' : undefined),
    });
    assert.equal(result.error, undefined);
    const [connect, send] = result.events as Frame[];
    assert.equal(connect!.header('passcode'), 'a\\cb'); // E-05
    assert.equal(send!.header('destination'), '/a:b'); // E-03 after the switch
  });

  test('C-11 without a switch the same SEND stays escaped (null rules)', () => {
    const result = parseEveryWay(stream);
    const send = result.events[1] as Frame;
    assert.equal(send.header('destination'), '/a\\cb');
  });

  test('C-11, F-02 after negotiating 1.1, CR before LF is part of the value', () => {
    const result = parseEveryWay(
      Buffer.from('CONNECT\naccept-version:1.1\n\n\0SEND\ndestination:/a\r\n\n\0'),
      { switchVersion: (f) => (f.command === 'CONNECT' ? '1.1' : undefined) },
    );
    assert.equal(result.error, undefined);
    assert.equal((result.events[1] as Frame).header('destination'), '/a\r');
  });

  test('C-11, E-02 after negotiating 1.1, \\r is INVALID_ESCAPE', () => {
    expectError(
      Buffer.from('CONNECT\naccept-version:1.1\n\n\0SEND\ndestination:/a\\rb\n\n\0'),
      'INVALID_ESCAPE',
      { switchVersion: (f) => (f.command === 'CONNECT' ? '1.1' : undefined) },
      [frame('CONNECT', ['accept-version', '1.1'])],
    );
  });

  test('pause() in onFrame holds the rest of the chunk until resume()', () => {
    const frames: Frame[] = [];
    const p: FrameParser = new FrameParser({
      onFrame(f) {
        frames.push(f);
        if (f.command === 'CONNECT') p.pause();
      },
      onHeartbeat() {},
    });
    p.push(stream);
    assert.equal(frames.length, 1, 'nothing after CONNECT is parsed while paused');
    assert.equal(p.idle, false, 'held bytes make the parser not idle');
    assert.ok(p.bufferedBytes > 0, 'held bytes are counted');
    p.push(Buffer.from('\n'));
    assert.equal(frames.length, 1, 'pushes while paused are held too');
    p.version = '1.2';
    p.resume();
    assert.equal(frames.length, 2);
    assert.equal(frames[1]!.header('destination'), '/a:b');
    assert.equal(p.idle, true);
    assert.equal(p.bufferedBytes, 0);
  });
});

describe('Frame.plain: headers that need no escaping in any version (E-04)', () => {
  /** Parses one frame with a parser of its own and returns it as delivered (plain included). */
  function parsed(bytes: string, version: '1.0' | '1.1' | '1.2' | null): Frame {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    p.version = version;
    p.push(Buffer.from(bytes));
    assert.equal(frames.length, 1);
    return frames[0]!;
  }

  test('a SEND of printable ASCII headers, with LF or CRLF line ends, is plain', () => {
    assert.equal(parsed('SEND\ndestination:/queue/a\npersistent:false\n\nx\0', '1.2').plain, true);
    assert.equal(parsed('SEND\r\ndestination:/queue/a\r\nk:v w\r\n\r\n\0', '1.2').plain, true);
    assert.equal(parsed('SEND\ndestination: /queue/a \n\n\0', '1.0').plain, true);
  });

  const notPlain: Array<[string, string, '1.0' | '1.1' | '1.2']> = [
    ['an escape in a value', 'SEND\ndestination:/a\\cb\n\n\0', '1.2'],
    ['an escape in a name', 'SEND\ndestination:/a\nk\\\\:v\n\n\0', '1.1'],
    ['a second colon in a value', 'SEND\ndestination:/a\nk:a:b\n\n\0', '1.2'],
    ['a non-ASCII value', 'SEND\ndestination:/\u00e4\n\n\0', '1.2'],
    ['a CR inside a 1.1 value (F-02)', 'SEND\ndestination:/a\nk:v\r\n\n\0', '1.1'],
    ['a backslash in 1.0, where it is literal', 'SEND\ndestination:/a\\b\n\n\0', '1.0'],
  ];
  for (const [what, bytes, version] of notPlain) {
    test(`a frame with ${what} is not plain`, () => {
      assert.equal(parsed(bytes, version).plain, false);
    });
  }

  test('plainness is per frame: a plain frame after one that was not is plain again', () => {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    p.version = '1.2';
    p.push(Buffer.from('SEND\ndestination:/a\nk:a:b\n\n\0SEND\ndestination:/a\n\n\0'));
    assert.deepEqual(
      frames.map((f) => f.plain),
      [false, true],
    );
  });

  test('a repeated value is the same string each frame; a changed one is read anew', () => {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    p.version = '1.2';
    p.push(
      Buffer.from(
        'SEND\ndestination:/queue/a\n\n\0SEND\ndestination:/queue/a\n\n\0SEND\ndestination:/queue/b\n\n\0SEND\ndestination:/queue/\n\n\0',
      ),
    );
    assert.deepEqual(
      frames.map((f) => f.header('destination')),
      ['/queue/a', '/queue/a', '/queue/b', '/queue/'],
    );
  });
});
