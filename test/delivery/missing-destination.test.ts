/**
 * SD-01 / SB-01: `destination` is required on SEND and SUBSCRIBE. Without it the broker
 * answers ERROR MISSING_HEADER (with receipt-id, ER-03) and closes (ER-01); nothing is
 * routed, and frames before the bad one were processed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectError, setup, subscribe, type StompVersion } from '../helpers/delivery.js';

const VERSIONS: StompVersion[] = ['1.0', '1.1', '1.2'];

describe('SD-01 SEND without destination', () => {
  for (const v of VERSIONS) {
    test(`SD-01 [${v}] SEND without destination -> ERROR MISSING_HEADER with receipt-id`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      c.write('SEND\nreceipt:r-1\ncontent-type:text/plain\n\nhello\0');
      const e = await expectError(c, 'MISSING_HEADER', { receiptId: 'r-1', command: 'SEND' });
      assert.match(e.header('content-type')!, /^text\/plain/);
      assert.equal(e.header('content-length'), String(e.body.length));
      assert.equal(env.broker.stats().queues, 0, 'nothing was routed');
      assert.equal(env.broker.stats().errors.MISSING_HEADER, 1);
    });
  }

  test('SD-01 frames before the bad SEND were processed; frames after it are not', async (t) => {
    const env = await setup(t);
    const consumer = await env.connect('1.2');
    await subscribe(consumer, '/queue/sd01', { id: 's' });
    const c = await env.connect('1.2');
    c.write(
      'SEND\ndestination:/queue/sd01\n\nbefore\0' +
        'SEND\n\nbad\0' +
        'SEND\ndestination:/queue/sd01\n\nafter\0',
    );
    await expectError(c, 'MISSING_HEADER');
    const m = await consumer.expect('MESSAGE');
    assert.equal(m.body.toString(), 'before');
    assert.equal(await consumer.quiet(150), true, 'the SEND after the ERROR was not processed');
    assert.equal(env.broker.queueDepth('/queue/sd01'), 0);
  });

  test('SD-01 a repeated destination header: the first one counts (E-06)', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/first', { id: 'a' });
    await subscribe(c, '/queue/second', { id: 'b' });
    c.write('SEND\ndestination:/queue/first\ndestination:/queue/second\n\nx\0');
    const m = await c.expect('MESSAGE');
    assert.equal(m.header('subscription'), 'a');
    assert.equal(m.header('destination'), '/queue/first');
    assert.deepEqual(
      m.entries().filter(([k]) => k === 'destination'),
      [['destination', '/queue/first']],
      'MESSAGE carries one destination',
    );
    assert.equal(await c.quiet(100), true);
  });
});

describe('SB-01 SUBSCRIBE without destination', () => {
  for (const v of VERSIONS) {
    test(`SB-01 [${v}] SUBSCRIBE without destination -> ERROR MISSING_HEADER with receipt-id`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      c.write('SUBSCRIBE\nid:s-1\nack:client\nreceipt:r-2\n\n\0');
      await expectError(c, 'MISSING_HEADER', { receiptId: 'r-2', command: 'SUBSCRIBE' });
      assert.equal(env.broker.stats().queues + env.broker.stats().topics, 0);
    });
  }
});
