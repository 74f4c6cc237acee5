/**
 * B-01: in 1.1 and 1.2 only SEND (of client frames) may have a body; any other frame with
 * a body -> ERROR BODY_NOT_ALLOWED, then close, and the frame has no effect. In 1.0 "the
 * body of the SUBSCRIBE command is ignored".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, withBroker } from '../helpers/session.js';

const WITH_BODY: Array<[command: string, setup: string, frame: string]> = [
  ['SUBSCRIBE', '', 'SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:r\n\nhello\0'],
  [
    'UNSUBSCRIBE',
    'SUBSCRIBE\nid:0\ndestination:/queue/u\n\n\0',
    'UNSUBSCRIBE\nid:0\nreceipt:r\n\nhello\0',
  ],
  ['BEGIN', '', 'BEGIN\ntransaction:t\nreceipt:r\n\nhello\0'],
  ['COMMIT', 'BEGIN\ntransaction:t\n\n\0', 'COMMIT\ntransaction:t\nreceipt:r\n\nhello\0'],
  ['ABORT', 'BEGIN\ntransaction:t\n\n\0', 'ABORT\ntransaction:t\nreceipt:r\n\nhello\0'],
  ['ACK', '', 'ACK\nid:1\nmessage-id:1\nsubscription:0\nreceipt:r\n\nhello\0'],
  ['NACK', '', 'NACK\nid:1\nmessage-id:1\nsubscription:0\nreceipt:r\n\nhello\0'],
  ['DISCONNECT', '', 'DISCONNECT\nreceipt:r\n\nhello\0'],
];

describe('B-01 body on a frame other than SEND', () => {
  for (const version of ['1.1', '1.2'] as const) {
    for (const [command, setup, frame] of WITH_BODY) {
      test(`B-01 ${version} ${command} with a body -> ERROR BODY_NOT_ALLOWED (receipt-id), then close`, () =>
        withBroker({}, async (h) => {
          const c = await h.connect(version);
          c.write(setup + frame);
          const f = await expectErrorThenClose(c, 'BODY_NOT_ALLOWED');
          assert.equal(f.header('receipt-id'), 'r');
          assert.equal(f.header('command'), command);
        }));
    }
  }

  test('B-01 a rejected SUBSCRIBE with a body creates no subscription', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/a\n\nbody\0');
      await expectErrorThenClose(c, 'BODY_NOT_ALLOWED');
      const p = await h.connect('1.2');
      p.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      await p.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/a'), 1, 'nobody consumed it');
    }));

  test('B-01 a body given with content-length is rejected as well', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('BEGIN\ntransaction:t\ncontent-length:3\n\na\0b\0');
      await expectErrorThenClose(c, 'BODY_NOT_ALLOWED');
    }));

  test('B-01 content-length:0 (an empty body) on BEGIN is fine', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('BEGIN\ntransaction:t\ncontent-length:0\nreceipt:r\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
    }));

  test('B-01 SEND may have a body', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/a\nreceipt:r\n\nbody\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
    }));

  test('B-01 1.0: the body of SUBSCRIBE is ignored and the subscription works', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.0');
      c.write('SUBSCRIBE\ndestination:/queue/a\nreceipt:r\n\nignored body\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
      const p = await h.connect('1.0');
      p.write('SEND\ndestination:/queue/a\n\nhello\0');
      assert.equal((await c.expect('MESSAGE')).body.toString(), 'hello');
    }));
});
