/**
 * Limits over real sockets: L-01 (frame size, header count, header line length, command
 * length -> ERROR with the limit's code, then close), 1.P item 12 (the same before
 * authentication, without calling the authenticate hook), maxConnections and
 * maxSubscriptionsPerConnection. Other sessions never notice one session being errored.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, TEXT_PLAIN, until, withBroker } from '../helpers/session.js';

const x = (n: number): string => 'x'.repeat(n);

describe('L-01 maxFrameSize', () => {
  const opts = { maxFrameSize: 1024 };

  test('L-01 a SEND well under maxFrameSize is accepted', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write(`SEND\ndestination:/queue/a\nreceipt:s\n\n${x(500)}\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
    }));

  test('L-01 SEND body over maxFrameSize (no content-length) -> ERROR FRAME_TOO_LARGE, then close', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write(`SEND\ndestination:/queue/a\nreceipt:s\n\n${x(2000)}\0`);
      await expectErrorThenClose(c, 'FRAME_TOO_LARGE');
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('L-01 a content-length over the limit is refused before any body byte is sent', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\ncontent-length:100000\n\n');
      await expectErrorThenClose(c, 'FRAME_TOO_LARGE');
    }));

  test('L-01 a body that never ends is cut off once it passes the limit', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\n\n');
      for (let i = 0; i < 8 && !c.ended; i++) c.write(x(256));
      await expectErrorThenClose(c, 'FRAME_TOO_LARGE');
    }));

  test('1.P#12 before authentication: an oversized CONNECT -> FRAME_TOO_LARGE; hook never called', () => {
    let calls = 0;
    return withBroker(
      {
        ...opts,
        authenticate: () => {
          calls++;
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write(`CONNECT\naccept-version:1.2\nhost:localhost\nlogin:a\npasscode:${x(2000)}\n\n\0`);
        await expectErrorThenClose(c, 'FRAME_TOO_LARGE');
        assert.equal(calls, 0);
        assert.equal(c.frames.length, 0, 'no CONNECTED');
      },
    );
  });

  test('1.P#12 before authentication: many small headers adding up past the limit', () =>
    withBroker(opts, async (h) => {
      const c = await h.open();
      let headers = '';
      for (let i = 0; i < 100; i++) headers += `h${i}:${x(20)}\n`;
      c.write(`CONNECT\naccept-version:1.2\nhost:localhost\n${headers}\n\0`);
      await expectErrorThenClose(c, 'FRAME_TOO_LARGE');
    }));

  test('1.P#12 before authentication: a frame with a huge body (SEND before CONNECT)', () =>
    withBroker(opts, async (h) => {
      const c = await h.open();
      c.write(`SEND\ndestination:/queue/a\n\n${x(5000)}`);
      const f = await c.expect('ERROR');
      // Either check may trip first; both are errors that close the connection.
      assert.ok(['FRAME_TOO_LARGE', 'NOT_CONNECTED'].includes(f.header('code')!));
      await c.waitClosed();
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('L-01 an oversized frame from one client: a second connected client keeps working', () =>
    withBroker(opts, async (h) => {
      const good = await h.connect('1.2');
      good.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0');
      await good.expect('RECEIPT');
      const bad = await h.connect('1.2');
      bad.write(`SEND\ndestination:/topic/t\n\n${x(5000)}\0`);
      await expectErrorThenClose(bad, 'FRAME_TOO_LARGE');
      assert.ok(await good.quiet(100), 'nothing of the oversized frame reached the subscriber');
      const p = await h.connect('1.2');
      p.write('SEND\ndestination:/topic/t\nreceipt:p\n\nsmall\0');
      await p.expect('RECEIPT');
      assert.equal((await good.expect('MESSAGE')).body.toString(), 'small');
      good.write('SEND\ndestination:/queue/q\nreceipt:g\n\nok\0');
      assert.equal((await good.expect('RECEIPT')).header('receipt-id'), 'g');
    }));
});

describe('L-01 maxHeaders', () => {
  const opts = { maxHeaders: 5 };

  test('L-01 exactly maxHeaders headers is accepted', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\na:1\nb:2\nc:3\nreceipt:s\n\nx\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
    }));

  test('L-01 one header more -> ERROR TOO_MANY_HEADERS, then close', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\na:1\nb:2\nc:3\nd:4\nreceipt:s\n\nx\0');
      await expectErrorThenClose(c, 'TOO_MANY_HEADERS');
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('1.P#12 too many headers before authentication', () =>
    withBroker(opts, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\na:1\nb:2\nc:3\nd:4\n\n\0');
      await expectErrorThenClose(c, 'TOO_MANY_HEADERS');
    }));
});

describe('L-01 maxHeaderLineLength', () => {
  const opts = { maxHeaderLineLength: 64 };

  test('L-01 a header line of exactly maxHeaderLineLength bytes is accepted', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write(`SEND\ndestination:/queue/a\nk:${x(62)}\nreceipt:s\n\nx\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
    }));

  test('L-01 a header line one byte longer -> ERROR HEADER_TOO_LONG, then close', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write(`SEND\ndestination:/queue/a\nk:${x(63)}\nreceipt:s\n\nx\0`);
      await expectErrorThenClose(c, 'HEADER_TOO_LONG');
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('L-01 a header line that never ends is refused without waiting for its LF', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2');
      c.write(`SEND\ndestination:/queue/a\nk:${x(500)}`);
      await expectErrorThenClose(c, 'HEADER_TOO_LONG');
    }));

  test('1.P#12 a long header line before authentication', () =>
    withBroker(opts, async (h) => {
      const c = await h.open();
      c.write(`CONNECT\naccept-version:1.2\nhost:localhost\npasscode:${x(100)}\n\n\0`);
      await expectErrorThenClose(c, 'HEADER_TOO_LONG');
    }));
});

describe('L-01 maxCommandLength', () => {
  test('L-01 a command line longer than maxCommandLength (no LF yet) -> COMMAND_TOO_LONG, before and after CONNECT', () =>
    withBroker({}, async (h) => {
      const a = await h.open();
      a.write(x(100));
      await expectErrorThenClose(a, 'COMMAND_TOO_LONG');
      const b = await h.connect('1.2');
      b.write(x(100) + '\n\n\0');
      await expectErrorThenClose(b, 'COMMAND_TOO_LONG');
    }));
});

describe('maxConnections', () => {
  test('a connection over maxConnections -> ERROR TOO_MANY_CONNECTIONS, then close; a freed slot is reusable', () =>
    withBroker({ maxConnections: 2 }, async (h) => {
      const a = await h.connect('1.2');
      await h.connect('1.2');
      const third = await h.open();
      await expectErrorThenClose(third, 'TOO_MANY_CONNECTIONS');
      assert.equal(h.broker.stats().connections, 2);
      // The others are unaffected.
      a.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      assert.equal((await a.expect('RECEIPT')).header('receipt-id'), 's');
      // Free a slot: a new connection now gets in.
      a.write('DISCONNECT\nreceipt:d\n\n\0');
      await a.expect('RECEIPT');
      await until(() => h.broker.stats().connections === 1, 'slot freed');
      const fourth = await h.connect('1.2');
      fourth.write('BEGIN\ntransaction:t\nreceipt:b\n\n\0');
      assert.equal((await fourth.expect('RECEIPT')).header('receipt-id'), 'b');
    }));

  test('ER-02 the TOO_MANY_CONNECTIONS ERROR has the usual headers (content-type, content-length)', () =>
    withBroker({ maxConnections: 0 }, async (h) => {
      const c = await h.open();
      const f = await expectErrorThenClose(c, 'TOO_MANY_CONNECTIONS');
      assert.equal(f.header('content-length'), String(f.body.length));
      assert.match(f.header('content-type') ?? '', TEXT_PLAIN);
    }));

  test('maxConnections counts connections not yet CONNECTed', () =>
    withBroker({ maxConnections: 1 }, async (h) => {
      await h.open();
      await until(() => h.broker.stats().connections === 1, 'first accepted');
      const second = await h.open();
      await expectErrorThenClose(second, 'TOO_MANY_CONNECTIONS');
    }));
});

describe('maxSubscriptionsPerConnection', () => {
  test('one SUBSCRIBE over the limit -> ERROR TOO_MANY_SUBSCRIPTIONS (receipt-id), then close', () =>
    withBroker({ maxSubscriptionsPerConnection: 2 }, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0' +
          'SUBSCRIBE\nid:1\ndestination:/queue/b\nreceipt:ok\n\n\0' +
          'SUBSCRIBE\nid:2\ndestination:/queue/c\nreceipt:r\n\n\0',
      );
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'ok');
      const f = await expectErrorThenClose(c, 'TOO_MANY_SUBSCRIPTIONS');
      assert.equal(f.header('receipt-id'), 'r');
    }));

  test('the limit counts current subscriptions: UNSUBSCRIBE frees a place', () =>
    withBroker({ maxSubscriptionsPerConnection: 2 }, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0' +
          'SUBSCRIBE\nid:1\ndestination:/queue/b\n\n\0' +
          'UNSUBSCRIBE\nid:0\n\n\0' +
          'SUBSCRIBE\nid:2\ndestination:/queue/c\nreceipt:r\n\n\0',
      );
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
    }));

  test('the limit is per connection: another connection has its own', () =>
    withBroker({ maxSubscriptionsPerConnection: 1 }, async (h) => {
      const a = await h.connect('1.2');
      const b = await h.connect('1.2');
      a.write('SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:a\n\n\0');
      b.write('SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:b\n\n\0');
      assert.equal((await a.expect('RECEIPT')).header('receipt-id'), 'a');
      assert.equal((await b.expect('RECEIPT')).header('receipt-id'), 'b');
    }));
});
