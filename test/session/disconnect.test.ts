/**
 * DISCONNECT: D-01 (RECEIPT after all earlier frames are processed, then the server
 * closes), D-02 (frames after DISCONNECT are ignored, even in the same write), D-03 /
 * T-04 (open transactions aborted, unacked messages back to their queue, redelivered),
 * 1.P items 7 and 11.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { framesUntilReceipt, until, withBroker } from '../helpers/session.js';

describe('D-01 graceful DISCONNECT', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    test(`D-01 ${version}: DISCONNECT receipt:d -> RECEIPT d, then the server closes`, () =>
      withBroker({}, async (h) => {
        const c = await h.connect(version);
        c.write('DISCONNECT\nreceipt:d\n\n\0');
        const r = await c.expect('RECEIPT');
        assert.equal(r.header('receipt-id'), 'd');
        await c.waitClosed(2000);
        assert.equal(c.frames.length, 0, 'nothing after the RECEIPT');
      }));
  }

  test('D-01 DISCONNECT without receipt -> closed, no frame, no ERROR', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('DISCONNECT\n\n\0');
      await c.waitClosed(2000);
      assert.equal(c.frames.length, 0);
      assert.deepEqual(h.broker.stats().errors, {});
    }));

  test('D-01 frames before DISCONNECT (same write) are processed and receipted first', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/a\nreceipt:s1\n\none\0' +
          'SEND\ndestination:/queue/a\n\ntwo\0' +
          'BEGIN\ntransaction:t\n\n\0' +
          'SEND\ndestination:/queue/a\ntransaction:t\n\nthree\0' +
          'COMMIT\ntransaction:t\nreceipt:c\n\n\0' +
          'DISCONNECT\nreceipt:d\n\n\0',
      );
      const frames = await framesUntilReceipt(c, 'd');
      assert.deepEqual(
        frames.map((f) => `${f.command}:${f.header('receipt-id')}`),
        ['RECEIPT:s1', 'RECEIPT:c', 'RECEIPT:d'],
      );
      await c.waitClosed(2000);
      assert.equal(h.broker.queueDepth('/queue/a'), 3);
    }));

  test('D-01 the broker drops the session after DISCONNECT', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      assert.equal(h.broker.stats().connections, 1);
      c.write('DISCONNECT\nreceipt:d\n\n\0');
      await c.expect('RECEIPT');
      await until(() => h.broker.stats().connections === 0, 'session dropped');
    }));
});

describe('D-02 frames after DISCONNECT', () => {
  test('D-02 a SEND after DISCONNECT in the same write is not delivered, nor receipted', () =>
    withBroker({}, async (h) => {
      const sub = await h.connect('1.2');
      sub.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0');
      await sub.expect('RECEIPT');
      const c = await h.connect('1.2');
      c.write(
        'DISCONNECT\nreceipt:d\n\n\0' +
          'SEND\ndestination:/topic/t\nreceipt:s\n\nlate\0' +
          'SEND\ndestination:/queue/late\nreceipt:s2\n\nlate\0',
      );
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'd');
      await c.waitClosed(2000);
      assert.equal(c.frames.length, 0, 'no RECEIPT for the later SENDs');
      assert.ok(await sub.quiet(200), 'the topic subscriber got nothing');
      assert.equal(h.broker.queueDepth('/queue/late'), 0);
    }));

  test('D-02 a SUBSCRIBE after DISCONNECT in the same write creates no subscription', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('DISCONNECT\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0');
      await c.waitClosed(2000);
      const p = await h.connect('1.2');
      p.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      await p.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/a'), 1);
    }));

  test('D-02 an invalid frame after DISCONNECT draws no ERROR', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('DISCONNECT\nreceipt:d\n\n\0BOGUS\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'd');
      await c.waitClosed(2000);
      assert.equal(c.frames.length, 0);
      assert.deepEqual(h.broker.stats().errors, {});
    }));

  test('D-02 a framing error after DISCONNECT (same write) draws no ERROR', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('DISCONNECT\nreceipt:d\n\n\0SEND\ndestination:/queue/a\nx:bad\\tescape\n\n\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'd');
      await c.waitClosed(2000);
      assert.equal(c.frames.length, 0);
      assert.deepEqual(h.broker.stats().errors, {});
    }));
});

describe('D-03 / T-04 what DISCONNECT releases', () => {
  test('T-04 an open transaction is aborted: its SENDs are dropped', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'BEGIN\ntransaction:t\n\n\0' +
          'SEND\ndestination:/queue/a\ntransaction:t\n\nnever\0' +
          'DISCONNECT\nreceipt:d\n\n\0',
      );
      await c.expect('RECEIPT');
      await c.waitClosed(2000);
      assert.equal(h.broker.queueDepth('/queue/a'), 0);
    }));

  test('D-03 unacked messages go back to the queue and are redelivered to the next consumer', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/a\n\nm1\0' +
          'SEND\ndestination:/queue/a\n\nm2\0' +
          'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\n\n\0',
      );
      assert.equal((await c.expect('MESSAGE')).body.toString(), 'm1');
      assert.equal((await c.expect('MESSAGE')).body.toString(), 'm2');
      c.write('DISCONNECT\nreceipt:d\n\n\0');
      await c.expect('RECEIPT');
      await c.waitClosed(2000);
      assert.equal(h.broker.queueDepth('/queue/a'), 2);
      const n = await h.connect('1.2');
      n.write('SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0');
      const r1 = await n.expect('MESSAGE');
      const r2 = await n.expect('MESSAGE');
      assert.deepEqual([r1.body.toString(), r2.body.toString()], ['m1', 'm2'], 'original order');
      assert.equal(r1.header('redelivered'), 'true');
      assert.equal(r2.header('redelivered'), 'true');
    }));

  test('D-01 abrupt close (no DISCONNECT) releases the session too', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/a\n\nm1\0' +
          'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client\n\n\0',
      );
      await c.expect('MESSAGE');
      c.destroy();
      await until(() => h.broker.stats().connections === 0, 'session dropped');
      assert.equal(h.broker.queueDepth('/queue/a'), 1);
    }));
});
