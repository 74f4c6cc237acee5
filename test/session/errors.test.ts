/**
 * ERROR frames: ER-01 (every ERROR is followed by closing the connection), ER-02
 * (`message`, body, content-type, content-length), ER-03 (`receipt-id` when the
 * offending frame asked for a receipt, headers naming the offending frame), ER-04
 * (the ERROR is flushed before the close; a client that keeps its half open is closed
 * after closeLinger), 1.P item 11. Frames after the offending one are not processed, and
 * other sessions never notice.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, type Frame } from '../../src/protocol/index.js';
import {
  expectErrorThenClose,
  openHalfOpen,
  recordWire,
  sleep,
  until,
  withBroker,
  TEXT_PLAIN,
} from '../helpers/session.js';

describe('ER-02 / ER-03 ERROR frame contents', () => {
  test('ER-03 an ERROR caused by a frame with receipt carries receipt-id, code, command', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('UNSUBSCRIBE\nid:nope\nreceipt:r-77\n\n\0');
      const f = await expectErrorThenClose(c, 'UNKNOWN_SUBSCRIPTION');
      assert.equal(f.header('receipt-id'), 'r-77');
      assert.equal(f.header('command'), 'UNSUBSCRIBE');
      assert.equal(c.frames.length, 0, 'no RECEIPT besides the ERROR');
    }));

  test('ER-02 message, code, content-type text/plain, content-length = body length, body', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const wire = recordWire(c);
      c.write('COMMIT\ntransaction:unknown\n\n\0');
      const f = await expectErrorThenClose(c, 'UNKNOWN_TRANSACTION');
      assert.ok((f.header('message') ?? '').length > 0);
      assert.match(f.header('content-type') ?? '', TEXT_PLAIN);
      assert.ok(f.body.length > 0, 'body describes the error');
      assert.equal(f.header('content-length'), String(f.body.length), 'B-04');
      assert.equal(f.header('receipt-id'), undefined, 'no receipt asked, no receipt-id');
      // The bytes on the wire are one complete ERROR frame.
      assert.match(wire.text(), /^ERROR\n/);
      assert.equal(wire.bytes().at(-1), 0);
    }));

  test('ER-02 1.0 sessions get the same ERROR headers', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.0');
      c.write('ABORT\ntransaction:unknown\nreceipt:x\n\n\0');
      const f = await expectErrorThenClose(c, 'UNKNOWN_TRANSACTION');
      assert.equal(f.header('receipt-id'), 'x');
      assert.equal(f.header('content-length'), String(f.body.length));
    }));

  const errorCases: Array<[what: string, frame: string, code: string]> = [
    ['SEND without destination', 'SEND\nreceipt:r\n\nx\0', 'MISSING_HEADER'],
    [
      'SUBSCRIBE without id (1.2)',
      'SUBSCRIBE\ndestination:/queue/a\nreceipt:r\n\n\0',
      'MISSING_HEADER',
    ],
    [
      'SUBSCRIBE with a bad ack mode',
      'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:sometimes\nreceipt:r\n\n\0',
      'INVALID_HEADER',
    ],
    [
      'duplicate subscription id',
      'SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/b\nreceipt:r\n\n\0',
      'DUPLICATE_SUBSCRIPTION',
    ],
    ['ACK of an unknown id', 'ACK\nid:999\nreceipt:r\n\n\0', 'UNKNOWN_MESSAGE'],
    [
      'BEGIN twice',
      'BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\nreceipt:r\n\n\0',
      'DUPLICATE_TRANSACTION',
    ],
    ['BEGIN without transaction', 'BEGIN\nreceipt:r\n\n\0', 'MISSING_HEADER'],
    [
      'SEND in an unknown transaction',
      'SEND\ndestination:/queue/a\ntransaction:zz\nreceipt:r\n\nx\0',
      'UNKNOWN_TRANSACTION',
    ],
  ];
  for (const [what, frame, code] of errorCases) {
    test(`ER-01/ER-03 ${what} -> ERROR ${code} with receipt-id, then close`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect('1.2');
        c.write(frame);
        const f = await expectErrorThenClose(c, code);
        assert.equal(f.header('receipt-id'), 'r');
      }));
  }
});

describe('ER-03 errors raised by hooks', () => {
  for (const async of [false, true]) {
    test(`ER-03 ${async ? 'async' : 'sync'} authorize refusal -> ERROR FORBIDDEN with receipt-id; later frames dropped`, () =>
      withBroker(
        {
          authorize: async
            ? async (_c, _a, d) => {
                await sleep(20);
                return d !== '/queue/secret';
              }
            : (_c, _a, d) => d !== '/queue/secret',
        },
        async (h) => {
          const c = await h.connect('1.2');
          c.write(
            'SEND\ndestination:/queue/open\nreceipt:ok\n\nx\0' +
              'SEND\ndestination:/queue/secret\nreceipt:no\n\nx\0' +
              'SEND\ndestination:/queue/open\nreceipt:after\n\ny\0',
          );
          assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'ok');
          const f = await expectErrorThenClose(c, 'FORBIDDEN');
          assert.equal(f.header('receipt-id'), 'no');
          assert.equal(f.header('command'), 'SEND');
          assert.equal(c.frames.length, 0);
          assert.equal(h.broker.queueDepth('/queue/secret'), 0);
          assert.equal(h.broker.queueDepth('/queue/open'), 1, 'only the frame before the error');
        },
      ));
  }
});

describe('ER-01 / ER-04 ERROR then close', () => {
  test('ER-01 frames after the offending frame (same write) are not processed', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'UNSUBSCRIBE\nid:nope\n\n\0' +
          'SEND\ndestination:/queue/after\nreceipt:s\n\nx\0' +
          'SUBSCRIBE\nid:1\ndestination:/queue/x\nreceipt:t\n\n\0',
      );
      await expectErrorThenClose(c, 'UNKNOWN_SUBSCRIPTION');
      assert.equal(c.frames.length, 0, 'no RECEIPT for the later frames');
      assert.equal(h.broker.queueDepth('/queue/after'), 0);
    }));

  test('ER-01 frames written after the ERROR arrived are ignored', () =>
    withBroker({}, async (h) => {
      const s = await openHalfOpen(h.port);
      h.track(s);
      const frames: Frame[] = [];
      const parser = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
      s.on('data', (d: Buffer) => parser.push(d));
      s.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await until(() => frames.length === 1, 'CONNECTED');
      s.write('ABORT\ntransaction:none\n\n\0');
      await until(() => frames.length === 2, 'ERROR');
      assert.equal(frames[1]!.command, 'ERROR');
      s.write('SEND\ndestination:/queue/late\nreceipt:s\n\nx\0');
      await sleep(100);
      assert.equal(frames.length, 2);
      assert.equal(h.broker.queueDepth('/queue/late'), 0);
    }));

  test('ER-04 the ERROR is flushed, then the broker half-closes (FIN) the connection', () =>
    withBroker({ closeLinger: 5000 }, async (h) => {
      const s = await openHalfOpen(h.port);
      h.track(s);
      const chunks: Buffer[] = [];
      let endedAfter = -1;
      s.on('data', (d: Buffer) => chunks.push(d));
      const ended = new Promise<void>((resolve) =>
        s.on('end', () => {
          endedAfter = Buffer.concat(chunks).length;
          resolve();
        }),
      );
      s.write('SEND\ndestination:/queue/a\n\nx\0'); // before CONNECT
      await ended;
      const text = Buffer.concat(chunks).toString();
      assert.match(text, /^ERROR\n/);
      assert.ok(text.endsWith('\0'), 'the whole ERROR arrived before the FIN');
      assert.equal(endedAfter, Buffer.concat(chunks).length);
    }));

  test('ER-04 a client that keeps its half open is dropped after closeLinger', () =>
    withBroker({ closeLinger: 200 }, async (h) => {
      const s = await openHalfOpen(h.port);
      h.track(s);
      s.on('error', () => {});
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      const ended = new Promise<void>((resolve) => s.on('end', () => resolve()));
      s.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await until(() => got.includes('\0'), 'CONNECTED');
      const start = Date.now();
      s.write('BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0');
      await ended; // FIN after the ERROR
      assert.match(got, /ERROR\n/);
      await sleep(50);
      assert.equal(h.broker.stats().connections, 1, 'lingering, not yet destroyed');
      await until(() => h.broker.stats().connections === 0, 'destroyed after closeLinger');
      assert.ok(Date.now() - start >= 180, `not before closeLinger (${Date.now() - start} ms)`);
      // The broker's side is gone: writing now fails and the socket closes.
      const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
      s.write('SEND\ndestination:/queue/a\n\nx\0');
      s.end();
      await closed;
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('ER-01 one client erroring does not disturb another (subscriptions, receipts)', () =>
    withBroker({}, async (h) => {
      const good = await h.connect('1.2');
      good.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0');
      await good.expect('RECEIPT');
      const bad = await h.connect('1.2');
      bad.write('SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0NACK\nid:404\n\n\0');
      await expectErrorThenClose(bad, 'UNKNOWN_MESSAGE');
      const p = await h.connect('1.1');
      p.write('SEND\ndestination:/topic/t\nreceipt:p\n\nstill here\0');
      await p.expect('RECEIPT');
      assert.equal((await good.expect('MESSAGE')).body.toString(), 'still here');
    }));

  test('ER-01 the errored session is released: broker connection count drops, errors counted', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      assert.equal(h.broker.stats().connections, 1);
      c.write('COMMIT\ntransaction:x\n\n\0');
      await expectErrorThenClose(c, 'UNKNOWN_TRANSACTION');
      await until(() => h.broker.stats().connections === 0, 'connection released');
      assert.equal(h.broker.stats().errors.UNKNOWN_TRANSACTION, 1);
    }));
});
