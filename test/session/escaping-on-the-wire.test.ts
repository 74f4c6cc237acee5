/**
 * Header escaping as seen on the wire: E-01 (1.0: none), E-02 / E-03 (decode; any other
 * escape is a fatal error: ERROR INVALID_ESCAPE, then close), E-04 (encode every outgoing
 * header per the receiver's version: 1.1 escapes LF `:` `\`, 1.2 also CR), E-06 (first
 * of repeated headers wins), E-07 (broker ids free of `:` `\` CR LF), F-02 (1.2 CRLF
 * frames accepted; 1.1 CR is an octet of the value), F-08 (UTF-8), 1.P items 4, 5.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StompVersion } from '../../src/protocol/index.js';
import type { RawClient } from '../helpers/raw-client.js';
import {
  expectErrorThenClose,
  recordWire,
  sleep,
  wireHeaderLines,
  withBroker,
  type Harness,
} from '../helpers/session.js';

/** A subscriber on `dest` at `version`, with its wire recorded. */
async function subscriber(h: Harness, version: StompVersion, dest: string, id = '0') {
  const c = await h.connect(version);
  const idHeader = version === '1.0' ? '' : `id:${id}\n`;
  c.write(`SUBSCRIBE\n${idHeader}destination:${dest}\nreceipt:sub\n\n\0`);
  await c.expect('RECEIPT');
  return { c, wire: recordWire(c) };
}

/** Asserts that every header line of the first `command` frame is escaped for `version`. */
function assertEscapedLines(wire: string, command: string, version: '1.1' | '1.2'): void {
  const allowed = version === '1.2' ? /^[ncr\\]$/ : /^[nc\\]$/;
  for (const line of wireHeaderLines(wire, command)) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `header line ${JSON.stringify(line)} has a name`);
    const value = line.slice(colon + 1);
    assert.ok(!value.includes(':'), `raw ':' in value: ${JSON.stringify(line)}`);
    if (version === '1.2') assert.ok(!line.includes('\r'), `raw CR: ${JSON.stringify(line)}`);
    for (let i = 0; i < line.length; i++) {
      if (line[i] === '\\') {
        assert.match(line[i + 1] ?? '', allowed, `bad escape in ${JSON.stringify(line)}`);
        i++;
      }
    }
  }
}

async function send(h: Harness, version: StompVersion, frame: string): Promise<RawClient> {
  const p = await h.connect(version);
  p.write(frame);
  assert.equal((await p.expect('RECEIPT')).header('receipt-id'), 'sent');
  return p;
}

describe('E-04 outgoing MESSAGE headers are escaped per the subscriber version', () => {
  // x-user value: "a:b\c" LF "d" CR "e"
  const SEND12 = 'SEND\ndestination:/topic/e\nx-user:a\\cb\\\\c\\nd\\re\nreceipt:sent\n\nbody\0';
  const VALUE = 'a:b\\c\nd\re';

  test('E-04 1.2 subscriber: `:` `\\` LF CR escaped as \\c \\\\ \\n \\r', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(h, '1.2', SEND12);
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('x-user'), VALUE);
      const lines = wireHeaderLines(s.wire.text(), 'MESSAGE');
      assert.ok(lines.includes('x-user:a\\cb\\\\c\\nd\\re'), JSON.stringify(lines));
      assertEscapedLines(s.wire.text(), 'MESSAGE', '1.2');
    }));

  test('E-04 1.1 subscriber: `:` `\\` LF escaped; CR is sent as a raw octet (no \\r in 1.1)', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.1', '/topic/e');
      await send(h, '1.2', SEND12);
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('x-user'), VALUE);
      const lines = wireHeaderLines(s.wire.text(), 'MESSAGE');
      assert.ok(lines.includes('x-user:a\\cb\\\\c\\nd\re'), JSON.stringify(lines));
      assert.ok(!s.wire.text().includes('\\r'), 'no \\r escape under 1.1 (stomp.py bug)');
      assertEscapedLines(s.wire.text(), 'MESSAGE', '1.1');
    }));

  test('E-01 1.0 subscriber: `:` and `\\` are sent raw', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.0', '/topic/e');
      await send(h, '1.2', 'SEND\ndestination:/topic/e\nx-user:a\\cb\\\\c\nreceipt:sent\n\n\0');
      await s.c.expect('MESSAGE');
      const lines = wireHeaderLines(s.wire.text(), 'MESSAGE');
      assert.ok(lines.includes('x-user:a:b\\c'), JSON.stringify(lines));
    }));

  test("E-01 a 1.0 sender's backslashes are literal: a 1.2 subscriber sees them escaped", () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(h, '1.0', 'SEND\ndestination:/topic/e\nx-user:a\\cb\\t\nreceipt:sent\n\n\0');
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('x-user'), 'a\\cb\\t');
      assert.ok(wireHeaderLines(s.wire.text(), 'MESSAGE').includes('x-user:a\\\\cb\\\\t'));
    }));

  test('E-04 header names are escaped too', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(h, '1.2', 'SEND\ndestination:/topic/e\nx\\cname\\\\:v\nreceipt:sent\n\n\0');
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('x:name\\'), 'v');
      assert.ok(wireHeaderLines(s.wire.text(), 'MESSAGE').includes('x\\cname\\\\:v'));
    }));

  test('F-09 a raw `:` in a 1.2 value is read leniently and written escaped', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(h, '1.2', 'SEND\ndestination:/topic/e\nuser:urn:x:y\nreceipt:sent\n\n\0');
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('user'), 'urn:x:y');
      assert.ok(wireHeaderLines(s.wire.text(), 'MESSAGE').includes('user:urn\\cx\\cy'));
    }));

  test('E-04 destination and subscription id with `:` are escaped in MESSAGE', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/queue/a\\cb', 'sub\\c1');
      await send(h, '1.2', 'SEND\ndestination:/queue/a\\cb\nreceipt:sent\n\nx\0');
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('destination'), '/queue/a:b');
      assert.equal(m.header('subscription'), 'sub:1');
      const lines = wireHeaderLines(s.wire.text(), 'MESSAGE');
      assert.ok(lines.includes('destination:/queue/a\\cb'), JSON.stringify(lines));
      assert.ok(lines.includes('subscription:sub\\c1'), JSON.stringify(lines));
    }));

  test('E-04 RECEIPT receipt-id is escaped', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const wire = recordWire(c);
      c.write('BEGIN\ntransaction:t\nreceipt:r\\c1\\\\x\\n\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r:1\\x\n');
      assert.deepEqual(wireHeaderLines(wire.text(), 'RECEIPT'), ['receipt-id:r\\c1\\\\x\\n']);
    }));

  test('E-04 ERROR headers are escaped too (1.2)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const wire = recordWire(c);
      c.write('UNSUBSCRIBE\nid:no\\cpe\nreceipt:r\\c2\n\n\0');
      const f = await expectErrorThenClose(c, 'UNKNOWN_SUBSCRIPTION');
      assert.equal(f.header('receipt-id'), 'r:2');
      assertEscapedLines(wire.text(), 'ERROR', '1.2');
    }));

  test('F-08 UTF-8 header values pass through unchanged', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(
        h,
        '1.2',
        'SEND\ndestination:/topic/e\nx-name:héllo wörld € 日本\nreceipt:sent\n\n\0',
      );
      assert.equal((await s.c.expect('MESSAGE')).header('x-name'), 'héllo wörld € 日本');
    }));

  test('E-06 repeated headers: the first one counts for the subscriber', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/e');
      await send(h, '1.2', 'SEND\ndestination:/topic/e\nx:first\nx:second\nreceipt:sent\n\n\0');
      assert.equal((await s.c.expect('MESSAGE')).header('x'), 'first');
    }));

  test('E-07 broker-made ids (message-id, ack, subscription echo) contain no `:` `\\` CR LF', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/ids\n\nx\0' +
          'SUBSCRIBE\nid:0\ndestination:/queue/ids\nack:client\n\n\0',
      );
      const m = await c.expect('MESSAGE');
      for (const name of ['message-id', 'ack']) {
        const v = m.header(name) ?? '';
        assert.ok(v.length > 0, `${name} present`);
        assert.doesNotMatch(v, /[:\\\r\n]/, name);
      }
    }));
});

describe('E-02 / E-03 invalid escapes are fatal', () => {
  const cases: Array<[version: StompVersion, what: string, line: string]> = [
    ['1.2', '\\t', 'x:a\\tb'],
    ['1.2', 'lone backslash at end', 'x:ab\\'],
    ['1.2', '\\ in a header name', 'x\\y:v'],
    ['1.1', '\\r (1.2 only)', 'x:a\\rb'],
    ['1.1', '\\t', 'x:a\\tb'],
  ];
  for (const [version, what, line] of cases) {
    test(`E-0${version === '1.1' ? 2 : 3} ${version} ${what} -> ERROR INVALID_ESCAPE, then close; not delivered`, () =>
      withBroker({}, async (h) => {
        const s = await subscriber(h, '1.2', '/topic/esc');
        const c = await h.connect(version);
        c.write(`SEND\ndestination:/topic/esc\n${line}\nreceipt:r\n\nbody\0`);
        await expectErrorThenClose(c, 'INVALID_ESCAPE');
        assert.ok(await s.c.quiet(100), 'the bad frame was not delivered');
      }));
  }

  test('E-01 1.0: backslashes are just octets, no error', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.0', '/topic/esc');
      const c = await h.connect('1.0');
      c.write('SEND\ndestination:/topic/esc\nx:a\\tb\\\nreceipt:r\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
      assert.equal((await s.c.expect('MESSAGE')).header('x'), 'a\\tb\\');
    }));

  test('1.P#4 an escape split across TCP segments is decoded, not misparsed', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/esc');
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/topic/esc\nx:a\\');
      await sleep(30);
      c.write('cb\\');
      await sleep(30);
      c.write('\\\nreceipt:r\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
      assert.equal((await s.c.expect('MESSAGE')).header('x'), 'a:b\\');
    }));
});

describe('F-02 end of line', () => {
  test('F-02 1.2: frames with CRLF line endings are accepted, CRs are not part of values', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\r\naccept-version:1.2\r\nhost:localhost\r\n\r\n\0');
      await c.expect('CONNECTED');
      c.parser.version = '1.2';
      c.write('SUBSCRIBE\r\nid:0\r\ndestination:/queue/crlf\r\nreceipt:r0\r\n\r\n\0\r\n');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r0');
      c.write('SEND\r\ndestination:/queue/crlf\r\nx:v\r\nreceipt:r1\r\n\r\nhello\0\r\n\r\n');
      const frames = [await c.next(), await c.next()];
      const r = frames.find((f) => f.command === 'RECEIPT');
      const m = frames.find((f) => f.command === 'MESSAGE');
      assert.equal(r?.header('receipt-id'), 'r1');
      assert.equal(m?.header('subscription'), '0');
      assert.equal(m?.header('destination'), '/queue/crlf');
      assert.equal(m?.header('x'), 'v');
      assert.equal(m?.body.toString(), 'hello');
    }));

  test('1.P#5 1.2: a bare CR inside a header value -> ERROR INVALID_EOL, then close', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\nx:a\rb\nreceipt:r\n\n\0');
      await expectErrorThenClose(c, 'INVALID_EOL');
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('F-02 1.1: a CR before LF is an octet of the value (relayed escaped to 1.2)', () =>
    withBroker({}, async (h) => {
      const s = await subscriber(h, '1.2', '/topic/cr');
      await send(h, '1.1', 'SEND\ndestination:/topic/cr\nx:v\r\nreceipt:sent\n\n\0');
      const m = await s.c.expect('MESSAGE');
      assert.equal(m.header('x'), 'v\r');
      assert.ok(wireHeaderLines(s.wire.text(), 'MESSAGE').includes('x:v\\r'));
    }));
});

describe('C-11 the negotiated version applies from the frame right after CONNECT', () => {
  for (const async of [false, true]) {
    const authenticate = async
      ? async () => {
          await sleep(30);
          return true;
        }
      : () => true;
    const label = async ? 'async auth' : 'sync auth';

    test(`C-11 ${label}: CONNECT 1.2 + SEND in one write -> the SEND is unescaped as 1.2`, () =>
      withBroker({ authenticate }, async (h) => {
        const s = await subscriber(h, '1.2', '/topic/pipe');
        const c = await h.open();
        c.write(
          'CONNECT\naccept-version:1.2\nhost:localhost\n\n\0' +
            'SEND\ndestination:/topic/pipe\nx:a\\cb\\r\r\nreceipt:r\r\n\r\n\0',
        );
        await c.expect('CONNECTED');
        await c.expect('RECEIPT');
        assert.equal((await s.c.expect('MESSAGE')).header('x'), 'a:b\r');
      }));

    test(`C-11 ${label}: CONNECT 1.1 + SEND with \\r in one write -> INVALID_ESCAPE`, () =>
      withBroker({ authenticate }, async (h) => {
        const c = await h.open();
        c.write(
          'CONNECT\naccept-version:1.1\nhost:localhost\n\n\0' +
            'SEND\ndestination:/topic/pipe\nx:a\\rb\n\n\0',
        );
        await c.expect('CONNECTED');
        await expectErrorThenClose(c, 'INVALID_ESCAPE');
      }));

    test(`C-11 ${label}: CONNECT 1.0 + SEND in one write -> no unescaping, no trimming issues`, () =>
      withBroker({ authenticate }, async (h) => {
        const s = await subscriber(h, '1.2', '/topic/pipe');
        const c = await h.open();
        c.write('CONNECT\n\n\0' + 'SEND\ndestination:/topic/pipe\nx:a\\cb\\t\nreceipt:r\n\n\0');
        await c.expect('CONNECTED');
        await c.expect('RECEIPT');
        assert.equal((await s.c.expect('MESSAGE')).header('x'), 'a\\cb\\t');
      }));
  }
});
