/**
 * F-11 (policy, security): nothing but CONNECT/STOMP is accepted before CONNECTED. Every
 * other frame gets ERROR NOT_CONNECTED (with receipt-id, ER-03) and the connection is
 * closed; nothing it asked for happens (vert.x bypassed auth this way). 1.P item 7.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, withBroker } from '../helpers/session.js';

const BEFORE_CONNECT: Array<[command: string, frame: string]> = [
  ['SEND', 'SEND\ndestination:/queue/a\nreceipt:r1\n\nhello\0'],
  ['SUBSCRIBE', 'SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:r1\n\n\0'],
  ['UNSUBSCRIBE', 'UNSUBSCRIBE\nid:0\nreceipt:r1\n\n\0'],
  ['BEGIN', 'BEGIN\ntransaction:t1\nreceipt:r1\n\n\0'],
  ['COMMIT', 'COMMIT\ntransaction:t1\nreceipt:r1\n\n\0'],
  ['ABORT', 'ABORT\ntransaction:t1\nreceipt:r1\n\n\0'],
  ['ACK', 'ACK\nid:1\nmessage-id:1\nreceipt:r1\n\n\0'],
  ['NACK', 'NACK\nid:1\nmessage-id:1\nreceipt:r1\n\n\0'],
  ['DISCONNECT', 'DISCONNECT\nreceipt:r1\n\n\0'],
];

describe('F-11 frames before CONNECT', () => {
  for (const [command, frame] of BEFORE_CONNECT) {
    test(`F-11 ${command} before CONNECT -> ERROR NOT_CONNECTED (receipt-id, command), then close`, () =>
      withBroker({}, async (h) => {
        const c = await h.open();
        c.write(frame);
        const f = await expectErrorThenClose(c, 'NOT_CONNECTED');
        assert.equal(f.header('receipt-id'), 'r1', 'ER-03');
        assert.equal(f.header('command'), command);
        assert.equal(c.frames.length, 0, 'no RECEIPT');
      }));
  }

  test('F-11 SEND before CONNECT is not delivered to a queue or a topic subscriber', () =>
    withBroker({}, async (h) => {
      const sub = await h.connect('1.2');
      sub.write(
        'SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0' +
          'SUBSCRIBE\nid:1\ndestination:/queue/watched\nreceipt:r\n\n\0',
      );
      await sub.expect('RECEIPT');
      const c = await h.open();
      c.write(
        'SEND\ndestination:/topic/t\n\nsneaky\0' +
          'SEND\ndestination:/queue/watched\n\nsneaky\0' +
          'SEND\ndestination:/queue/a\n\nsneaky\0',
      );
      await expectErrorThenClose(c, 'NOT_CONNECTED');
      assert.ok(await sub.quiet(200), 'subscriber received nothing');
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('F-11 SUBSCRIBE before CONNECT creates no subscription: later messages stay queued', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0');
      await expectErrorThenClose(c, 'NOT_CONNECTED');
      const p = await h.connect('1.2');
      p.write('SEND\ndestination:/queue/a\nreceipt:s\n\none\0');
      await p.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/a'), 1);
    }));

  test('F-11 a SEND then a CONNECT in one write: the SEND is rejected and no CONNECTED follows', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write(
        'SEND\ndestination:/queue/a\n\nx\0' + 'CONNECT\naccept-version:1.2\nhost:localhost\n\n\0',
      );
      await expectErrorThenClose(c, 'NOT_CONNECTED');
      assert.equal(c.frames.length, 0);
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('F-11 SEND before CONNECT when an authenticate hook exists: the hook is never bypassed', () => {
    let calls = 0;
    return withBroker(
      {
        authenticate: () => {
          calls++;
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('SEND\ndestination:/queue/a\n\nx\0');
        await expectErrorThenClose(c, 'NOT_CONNECTED');
        assert.equal(calls, 0);
        assert.equal(h.broker.queueDepth('/queue/a'), 0);
      },
    );
  });

  test('F-11 a frame before CONNECT without receipt -> ERROR without receipt-id', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('BEGIN\ntransaction:t\n\n\0');
      const f = await expectErrorThenClose(c, 'NOT_CONNECTED');
      assert.equal(f.header('receipt-id'), undefined);
    }));

  test('F-11 the ERROR is addressed to the offender only: other sessions keep working', () =>
    withBroker({}, async (h) => {
      const good = await h.connect('1.2');
      const bad = await h.open();
      bad.write('SEND\ndestination:/queue/a\n\nx\0');
      await expectErrorThenClose(bad, 'NOT_CONNECTED');
      good.write('SEND\ndestination:/queue/a\nreceipt:g\n\nok\0');
      assert.equal((await good.expect('RECEIPT')).header('receipt-id'), 'g');
      assert.equal(h.broker.queueDepth('/queue/a'), 1);
    }));
});
