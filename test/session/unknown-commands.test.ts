/**
 * Commands a session does not know: F-05 (the client command set per version: no NACK
 * in 1.0), F-07 (unknown command -> ERROR, then close; policy: close in every version),
 * F-04 (commands are case sensitive), F-06 (server commands are not client commands).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, withBroker } from '../helpers/session.js';

describe('F-07 unknown commands', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    test(`F-07 ${version}: FOO -> ERROR UNKNOWN_COMMAND (receipt-id, command), then close`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect(version);
        c.write('FOO\nreceipt:r1\n\n\0');
        const f = await expectErrorThenClose(c, 'UNKNOWN_COMMAND');
        assert.equal(f.header('receipt-id'), 'r1');
        assert.equal(f.header('command'), 'FOO');
      }));
  }

  for (const command of ['send', 'Send', 'SUBSCRIBe', 'disconnect']) {
    test(`F-04 commands are case sensitive: ${command} -> UNKNOWN_COMMAND`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect('1.2');
        c.write(`${command}\ndestination:/queue/a\nid:0\n\nx\0`);
        await expectErrorThenClose(c, 'UNKNOWN_COMMAND');
        assert.equal(h.broker.queueDepth('/queue/a'), 0);
      }));
  }

  for (const command of ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR']) {
    test(`F-06 server command ${command} from a client -> UNKNOWN_COMMAND`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect('1.2');
        c.write(`${command}\ndestination:/queue/a\nreceipt-id:x\n\n\0`);
        await expectErrorThenClose(c, 'UNKNOWN_COMMAND');
      }));
  }

  test('F-07 frames after the unknown command are not processed', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('BOGUS\n\n\0SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      await expectErrorThenClose(c, 'UNKNOWN_COMMAND');
      assert.equal(c.frames.length, 0);
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));
});

describe('F-05 per-version command sets', () => {
  test('F-05 1.0: NACK, which 1.0 lacks, is accepted as RabbitMQ accepts it: the message comes back', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.0');
      c.write(
        'SEND\ndestination:/queue/a\n\nm\0' +
          'SUBSCRIBE\ndestination:/queue/a\nack:client\nreceipt:r\n\n\0',
      );
      await c.expect('RECEIPT');
      const m = await c.expect('MESSAGE');
      c.write(`NACK\nmessage-id:${m.header('message-id')}\nreceipt:n\n\n\0`);
      // Requeued and redelivered while the NACK is handled, so before its RECEIPT.
      const again = await c.expect('MESSAGE');
      assert.equal(again.header('message-id'), m.header('message-id'));
      assert.equal(again.header('redelivered'), 'true');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'n');
    }));

  for (const version of ['1.1', '1.2'] as const) {
    test(`F-05 ${version}: NACK is a known command (an unknown id is UNKNOWN_MESSAGE, not UNKNOWN_COMMAND)`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect(version);
        c.write('NACK\nid:1\nmessage-id:1\nsubscription:0\n\n\0');
        await expectErrorThenClose(c, 'UNKNOWN_MESSAGE');
      }));
  }

  test('F-05 1.1/1.2 accept NACK: a NACKed message is redelivered', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/a\n\nm\0' +
          'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\nreceipt:r\n\n\0',
      );
      await c.expect('RECEIPT');
      const m = await c.expect('MESSAGE');
      c.write(`NACK\nid:${m.header('ack')}\nreceipt:n\n\n\0`);
      const frames = [await c.next(), await c.next()];
      assert.ok(frames.some((f) => f.command === 'RECEIPT' && f.header('receipt-id') === 'n'));
      const again = frames.find((f) => f.command === 'MESSAGE');
      assert.equal(again?.header('redelivered'), 'true');
    }));
});
