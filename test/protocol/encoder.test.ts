/**
 * The encoder: one Buffer per frame, escaping per version (E-04, E-05), 1.0 without escapes
 * (E-01), content-length always on SEND/MESSAGE/ERROR (B-04), SharedMessage (common part
 * encoded once, per-delivery headers first and winning, E-06), HEARTBEAT (HB-03).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeFrame,
  escapeHeader,
  Frame,
  FRAME_END,
  encodeLines,
  HEARTBEAT,
  SharedMessage,
  type StompVersion,
} from '../../src/protocol/index.js';
import { parseOne } from './helpers.js';

const VERSIONS: StompVersion[] = ['1.0', '1.1', '1.2'];

/** One delivery of `msg`, its own headers `perDelivery` encoded with encodeLines. */
function deliver(msg: SharedMessage, version: StompVersion, perDelivery: string[]): Buffer {
  const own = encodeLines(perDelivery, version);
  return msg.encodeWith(version, 'MESSAGE\n' + own.text, own.ascii);
}

describe('encodeFrame', () => {
  test('F-01, B-04 a SEND is one Buffer with content-length after the headers', () => {
    const out = encodeFrame(Frame.of('SEND', { destination: '/queue/a' }, 'hi'), '1.2');
    assert.ok(Buffer.isBuffer(out));
    assert.deepStrictEqual(
      out,
      Buffer.from('SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\0'),
    );
  });

  test('F-01 a frame without a body and without headers', () => {
    assert.deepStrictEqual(
      encodeFrame(new Frame('DISCONNECT'), '1.2'),
      Buffer.from('DISCONNECT\n\n\0'),
    );
  });

  test('F-01 repeated headers are written in order', () => {
    const out = encodeFrame(new Frame('RECEIPT', ['receipt-id', '1', 'x', 'a', 'x', 'b']), '1.1');
    assert.deepStrictEqual(out, Buffer.from('RECEIPT\nreceipt-id:1\nx:a\nx:b\n\n\0'));
  });

  test('F-08 header names and values are written as UTF-8', () => {
    const out = encodeFrame(Frame.of('MESSAGE', { 'd\u00e9st': '\u20ac\ud83d\ude00' }), '1.2');
    assert.deepStrictEqual(
      out,
      Buffer.from('MESSAGE\nd\u00e9st:\u20ac\ud83d\ude00\ncontent-length:0\n\n\0'),
    );
  });
});

describe('E-04 escaping on encode', () => {
  test('E-04 1.1 escapes LF, ":" and "\\" in names and values, but not CR', () => {
    const out = encodeFrame(new Frame('MESSAGE', ['a:b', 'x\\y\nz\rw']), '1.1');
    assert.deepStrictEqual(
      out,
      Buffer.from('MESSAGE\na\\cb:x\\\\y\\nz\rw\ncontent-length:0\n\n\0'),
    );
  });

  test('E-04 1.2 escapes CR too', () => {
    const out = encodeFrame(new Frame('MESSAGE', ['a:b\r', 'x\\y\nz\rw']), '1.2');
    assert.deepStrictEqual(
      out,
      Buffer.from('MESSAGE\na\\cb\\r:x\\\\y\\nz\\rw\ncontent-length:0\n\n\0'),
    );
  });

  test('E-04 escapeHeader per version', () => {
    assert.equal(escapeHeader('a:b\\c\nd\re', '1.2'), 'a\\cb\\\\c\\nd\\re');
    assert.equal(escapeHeader('a:b\\c\nd\re', '1.1'), 'a\\cb\\\\c\\nd\re');
    assert.equal(escapeHeader('a:b\\c\nd\re', '1.0'), 'a:b\\c\nd\re');
    assert.equal(escapeHeader('plain', '1.2'), 'plain');
  });

  test('E-04 an escaped value parses back to the original (1.1 and 1.2)', () => {
    for (const version of ['1.1', '1.2'] as const) {
      const f = parseOne(encodeFrame(new Frame('ERROR', ['message', 'a:b\\c\nd']), version), {
        version,
      });
      assert.equal(f.header('message'), 'a:b\\c\nd');
    }
  });

  for (const version of ['1.1', '1.2'] as const) {
    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      test(`E-05 ${version}: ${command} headers are written without escaping`, () => {
        const out = encodeFrame(new Frame(command, ['passcode', 'p:a\\ss']), version);
        assert.deepStrictEqual(out, Buffer.from(`${command}\npasscode:p:a\\ss\n\n\0`));
      });
    }
  }

  test('E-01 1.0: nothing is escaped', () => {
    const out = encodeFrame(new Frame('MESSAGE', ['x', 'a:b\\c']), '1.0');
    assert.deepStrictEqual(out, Buffer.from('MESSAGE\nx:a:b\\c\ncontent-length:0\n\n\0'));
  });

  test('E-01 1.0: CR and LF, which 1.0 cannot carry, become spaces (no header injection)', () => {
    const out = encodeFrame(new Frame('ERROR', ['message', 'bad\nreceipt-id:x\r']), '1.0');
    assert.deepStrictEqual(
      out,
      Buffer.from('ERROR\nmessage:bad receipt-id:x \ncontent-length:0\n\n\0'),
    );
    const f = parseOne(out, { version: '1.0' });
    assert.equal(f.has('receipt-id'), false);
  });
});

describe('B-04 content-length', () => {
  for (const command of ['SEND', 'MESSAGE', 'ERROR']) {
    for (const version of VERSIONS) {
      test(`B-04 ${version}: ${command} always carries content-length, even with no body`, () => {
        const f = parseOne(encodeFrame(new Frame(command, ['x', '1']), version), { version });
        assert.equal(f.header('content-length'), '0');
      });
    }
  }

  test('B-04 content-length is the byte length of a binary body with NULs', () => {
    const body = Buffer.from([0, 1, 0, 0xff, 0, 0x0a]);
    const out = encodeFrame(new Frame('MESSAGE', ['destination', '/a'], body), '1.2');
    assert.deepStrictEqual(
      out,
      Buffer.concat([
        Buffer.from('MESSAGE\ndestination:/a\ncontent-length:6\n\n'),
        body,
        Buffer.from([0]),
      ]),
    );
    assert.deepStrictEqual(parseOne(out, { version: '1.2' }).body, body);
  });

  test('B-04 a content-length in the frame is replaced by the real one', () => {
    const out = encodeFrame(
      new Frame(
        'MESSAGE',
        ['content-length', '999', 'destination', '/a', 'content-length', '1'],
        Buffer.from('abc'),
      ),
      '1.2',
    );
    assert.deepStrictEqual(out, Buffer.from('MESSAGE\ndestination:/a\ncontent-length:3\n\nabc\0'));
  });

  test('B-01 commands without a body get no content-length, and a given one is dropped', () => {
    for (const command of ['RECEIPT', 'CONNECTED', 'SUBSCRIBE', 'ACK']) {
      const out = encodeFrame(new Frame(command, ['content-length', '5', 'id', '1']), '1.2');
      assert.deepStrictEqual(out, Buffer.from(`${command}\nid:1\n\n\0`));
    }
  });

  test('B-04 content-length counts UTF-8 octets', () => {
    const f = parseOne(encodeFrame(Frame.of('SEND', {}, '\u00e9\u20ac\ud83d\ude00'), '1.2'), {
      version: '1.2',
    });
    assert.equal(f.header('content-length'), '9');
  });
});

describe('HB-03 HEARTBEAT', () => {
  test('HB-03 a heart-beat is a single LF, valid in every version', () => {
    assert.deepStrictEqual(HEARTBEAT, Buffer.from('\n'));
  });
});

describe('SharedMessage', () => {
  const common = ['destination', '/topic/a:b', 'x-user', 'line1\nline2', 'subscription', 'forged'];
  const body = Buffer.from('pay\0load');

  for (const version of VERSIONS) {
    test(`SharedMessage ${version}: same bytes as encodeFrame with the per-delivery headers first`, () => {
      const per = ['subscription', '7', 'message-id', 'm-1', 'ack', 'a-1'];
      const msg = new SharedMessage(common, body);
      assert.deepStrictEqual(
        deliver(msg, version, per),
        encodeFrame(new Frame('MESSAGE', [...per, ...common], body), version),
      );
    });
  }

  test('SharedMessage 1.2: exact bytes, escaped, per-delivery headers first, content-length at the end', () => {
    const msg = new SharedMessage(common, body);
    assert.deepStrictEqual(
      deliver(msg, '1.2', ['subscription', '7', 'message-id', 'm:1']),
      Buffer.concat([
        Buffer.from(
          'MESSAGE\nsubscription:7\nmessage-id:m\\c1\n' +
            'destination:/topic/a\\cb\nx-user:line1\\nline2\nsubscription:forged\ncontent-length:8\n\n',
        ),
        body,
        Buffer.from([0]),
      ]),
    );
  });

  test('E-06 SharedMessage: the per-delivery header wins over the same name in the common part', () => {
    const msg = new SharedMessage(common, body);
    const f = parseOne(deliver(msg, '1.2', ['subscription', '7', 'message-id', 'm-1']), {
      version: '1.2',
    });
    assert.equal(f.header('subscription'), '7');
    assert.equal(f.header('destination'), '/topic/a:b');
    assert.equal(f.header('x-user'), 'line1\nline2');
    assert.deepStrictEqual(f.body, body);
  });

  test('B-04 SharedMessage always carries the real content-length, even if the headers had one', () => {
    const msg = new SharedMessage(['content-length', '1', 'destination', '/a'], body);
    const f = parseOne(deliver(msg, '1.1', ['content-length', '2', 'subscription', '1']), {
      version: '1.1',
    });
    assert.deepStrictEqual(f.headers, [
      'subscription',
      '1',
      'destination',
      '/a',
      'content-length',
      String(body.length),
    ]);
  });

  test('SharedMessage encodes the common part once per version, however many deliveries', () => {
    let reads = 0;
    const counted = new Proxy(common, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const msg = new SharedMessage(counted, body);
    deliver(msg, '1.2', ['subscription', '1']);
    const afterFirst = reads;
    assert.ok(afterFirst > 0);
    for (let i = 2; i < 50; i++) deliver(msg, '1.2', ['subscription', String(i)]);
    assert.equal(reads, afterFirst, 'the common headers were read again for 1.2');
    deliver(msg, '1.1', ['subscription', '1']);
    const after11 = reads;
    assert.ok(after11 > afterFirst, '1.1 escapes differently, so it has its own common part');
    deliver(msg, '1.1', ['subscription', '2']);
    assert.equal(reads, after11, 'the common headers were read again for 1.1');
    deliver(msg, '1.0', ['subscription', '3']);
    const after10 = reads;
    assert.ok(after10 > after11, '1.0 has its own common part');
    deliver(msg, '1.0', ['subscription', '4']);
    deliver(msg, '1.2', ['subscription', '5']);
    deliver(msg, '1.1', ['subscription', '5']);
    deliver(msg, '1.0', ['subscription', '5']);
    assert.equal(reads, after10, 'every version is cached');
  });

  test('SharedMessage: different deliveries of one message differ only in their own headers', () => {
    const msg = new SharedMessage(['destination', '/a'], Buffer.from('x'));
    assert.deepStrictEqual(
      deliver(msg, '1.1', ['subscription', '1']),
      Buffer.from('MESSAGE\nsubscription:1\ndestination:/a\ncontent-length:1\n\nx\0'),
    );
    assert.deepStrictEqual(
      deliver(msg, '1.1', ['subscription', '22']),
      Buffer.from('MESSAGE\nsubscription:22\ndestination:/a\ncontent-length:1\n\nx\0'),
    );
  });
});

describe('SharedMessage.encodeBeforeBody (large bodies written without a copy)', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    test(`${version}: lines + body + FRAME_END is byte for byte what encodeWith makes`, () => {
      const body = Buffer.alloc(20_000, 0x61);
      body[100] = 0; // B-02: a NUL inside the body
      const m = new SharedMessage(['destination', '/queue/a', 'k', 'v:1\n2'], body);
      const per = ['subscription', 's', 'message-id', 'm-1', 'ack', '7'];
      const own = encodeLines(per, version);
      const beforeBody = m.encodeBeforeBody(version, 'MESSAGE\n' + own.text, own.ascii);
      assert.deepEqual(Buffer.concat([beforeBody, body, FRAME_END]), deliver(m, version, per));
    });
  }
});

describe('SharedMessage.encodeWith (the delivery path: own lines made by the caller)', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    test(`${version}: ASCII and non-ASCII first lines and common parts encode as encodeFrame does`, () => {
      const commons = [
        ['destination', '/queue/a', 'k', 'v'],
        ['destination', '/queue/ä', 'k', 'ü:\\x\n'],
      ];
      const deliveries = [
        ['subscription', 's', 'message-id', 'm-1'],
        ['subscription', 'sö:1', 'message-id', 'm-1', 'ack', '9'],
      ];
      for (const common of commons) {
        for (const per of deliveries) {
          const body = Buffer.from('body\0x');
          const m = new SharedMessage(common, body);
          const own = encodeLines(per, version);
          assert.deepEqual(
            m.encodeWith(version, 'MESSAGE\n' + own.text, own.ascii),
            encodeFrame(new Frame('MESSAGE', [...per, ...common], body), version),
          );
        }
      }
    });
  }

  test('E-04: encodeLines escapes a 1.2 subscription id once, for reuse', () => {
    assert.deepEqual(encodeLines(['subscription', 'a:b\\c\r'], '1.2'), {
      text: 'subscription:a\\cb\\\\c\\r\n',
      ascii: true,
    });
  });
});

describe('SharedMessage built from a plain frame (Frame.plain)', () => {
  test('E-04: skipping the escaping checks writes the same bytes as making them', () => {
    const headers = ['destination', '/queue/a', 'persistent', 'false', 'k', 'v w'];
    for (const version of ['1.0', '1.1', '1.2'] as const) {
      const checked = new SharedMessage(headers, Buffer.from('x'));
      const trusted = new SharedMessage(headers, Buffer.from('x'), true);
      assert.deepEqual(
        deliver(trusted, version, ['message-id', 'm-1']),
        deliver(checked, version, ['message-id', 'm-1']),
      );
    }
  });
});
