/**
 * Receipts: R-01 (every client frame except CONNECT may ask for one; RECEIPT carries
 * receipt-id, empty body in 1.1+), R-03 (policy: receipts in frame order, each once),
 * R-02 (a RECEIPT means the frame was processed), SUBSCRIBE's RECEIPT precedes the
 * messages delivered to it, 1.P item 11 (RECEIPT ordering).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../src/protocol/index.js';
import type { RawClient } from '../helpers/raw-client.js';
import { framesUntilReceipt, sleep, withBroker } from '../helpers/session.js';

function receiptIds(frames: Frame[]): string[] {
  return frames.filter((f) => f.command === 'RECEIPT').map((f) => f.header('receipt-id')!);
}

/** Puts one message on /queue/a and subscribes to it with client-individual acks; returns its ack id. */
async function oneUnacked(c: RawClient): Promise<string> {
  c.write(
    'SEND\ndestination:/queue/a\n\nm1\0' +
      'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\nreceipt:setup\n\n\0',
  );
  await c.expect('RECEIPT');
  const m = await c.expect('MESSAGE');
  return m.header('ack')!;
}

describe('R-01 a RECEIPT for every command', () => {
  const simple: Array<[command: string, setup: string, frame: string]> = [
    ['SEND', '', 'SEND\ndestination:/queue/a\nreceipt:R\n\nbody\0'],
    ['SUBSCRIBE', '', 'SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:R\n\n\0'],
    [
      'UNSUBSCRIBE',
      'SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0',
      'UNSUBSCRIBE\nid:0\nreceipt:R\n\n\0',
    ],
    ['BEGIN', '', 'BEGIN\ntransaction:t1\nreceipt:R\n\n\0'],
    ['COMMIT', 'BEGIN\ntransaction:t1\n\n\0', 'COMMIT\ntransaction:t1\nreceipt:R\n\n\0'],
    ['ABORT', 'BEGIN\ntransaction:t1\n\n\0', 'ABORT\ntransaction:t1\nreceipt:R\n\n\0'],
    [
      'SEND in a transaction',
      'BEGIN\ntransaction:t1\n\n\0',
      'SEND\ndestination:/queue/a\ntransaction:t1\nreceipt:R\n\nx\0',
    ],
  ];
  for (const version of ['1.2', '1.1'] as const) {
    for (const [name, setup, frame] of simple) {
      test(`R-01 ${version} ${name} with receipt -> RECEIPT receipt-id, empty body`, () =>
        withBroker({}, async (h) => {
          const c = await h.connect(version);
          c.write(setup + frame);
          const r = await c.expect('RECEIPT');
          assert.equal(r.header('receipt-id'), 'R');
          assert.equal(r.body.length, 0);
          assert.ok(await c.quiet(50), 'exactly one RECEIPT');
        }));
    }
  }

  test('R-01 1.0 frames get receipts too (SEND, SUBSCRIBE without id, UNSUBSCRIBE by destination)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.0');
      c.write(
        'SEND\ndestination:/queue/z\nreceipt:a\n\nx\0' +
          'SUBSCRIBE\ndestination:/queue/y\nreceipt:b\n\n\0' +
          'UNSUBSCRIBE\ndestination:/queue/y\nreceipt:c\n\n\0',
      );
      const frames = await framesUntilReceipt(c, 'c');
      assert.deepEqual(receiptIds(frames), ['a', 'b', 'c']);
    }));

  test('R-01 ACK with receipt -> RECEIPT (1.2, by id)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const ack = await oneUnacked(c);
      c.write(`ACK\nid:${ack}\nreceipt:R\n\n\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'R');
    }));

  test('R-01 NACK with receipt -> RECEIPT (1.2, by id)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const ack = await oneUnacked(c);
      c.write(`NACK\nid:${ack}\nreceipt:R\n\n\0`);
      // The NACKed message is requeued and may be redelivered around the RECEIPT.
      const frames = await framesUntilReceipt(c, 'R');
      assert.deepEqual(receiptIds(frames), ['R']);
    }));

  test('R-01 ACK with receipt -> RECEIPT (1.1, by message-id + subscription)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.1');
      c.write(
        'SEND\ndestination:/queue/a\n\nm1\0' +
          'SUBSCRIBE\nid:s\ndestination:/queue/a\nack:client\nreceipt:setup\n\n\0',
      );
      await c.expect('RECEIPT');
      const m = await c.expect('MESSAGE');
      c.write(`ACK\nmessage-id:${m.header('message-id')}\nsubscription:s\nreceipt:R\n\n\0`);
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'R');
    }));

  test('R-01 ACK inside a transaction and the COMMIT each get their RECEIPT', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      const ack = await oneUnacked(c);
      c.write(
        'BEGIN\ntransaction:t\nreceipt:b\n\n\0' +
          `ACK\nid:${ack}\ntransaction:t\nreceipt:a\n\n\0` +
          'COMMIT\ntransaction:t\nreceipt:c\n\n\0',
      );
      assert.deepEqual(receiptIds(await framesUntilReceipt(c, 'c')), ['b', 'a', 'c']);
    }));
});

describe('R-03 receipts in frame order', () => {
  test('R-03 a mixed batch in one write: every frame receipted once, in order', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'SEND\ndestination:/queue/a\nreceipt:r1\n\nm1\0' +
          'SEND\ndestination:/queue/a\nreceipt:r2\n\nm2\0' +
          'SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\nreceipt:r3\n\n\0',
      );
      const first = await framesUntilReceipt(c, 'r3');
      assert.deepEqual(receiptIds(first), ['r1', 'r2', 'r3']);
      // Both messages come after the SUBSCRIBE's receipt.
      const msgs = [...first.filter((f) => f.command === 'MESSAGE')];
      while (msgs.length < 2) msgs.push(await c.expect('MESSAGE'));
      const [a1, a2] = msgs.map((m) => m.header('ack')!);
      c.write(
        `ACK\nid:${a1}\nreceipt:r4\n\n\0` +
          `NACK\nid:${a2}\nreceipt:r5\n\n\0` + // requeued: a MESSAGE may be interleaved
          'BEGIN\ntransaction:t1\nreceipt:r6\n\n\0' +
          'SEND\ndestination:/queue/b\ntransaction:t1\nreceipt:r7\n\nt\0' +
          'COMMIT\ntransaction:t1\nreceipt:r8\n\n\0' +
          'BEGIN\ntransaction:t2\nreceipt:r9\n\n\0' +
          'SEND\ndestination:/queue/b\ntransaction:t2\nreceipt:r10\n\nu\0' +
          'ABORT\ntransaction:t2\nreceipt:r11\n\n\0' +
          'UNSUBSCRIBE\nid:0\nreceipt:r12\n\n\0' +
          'SEND\ndestination:/topic/x\nreceipt:r13\n\nv\0' +
          'DISCONNECT\nreceipt:r14\n\n\0',
      );
      const rest = await framesUntilReceipt(c, 'r14');
      assert.deepEqual(receiptIds(rest), [
        'r4',
        'r5',
        'r6',
        'r7',
        'r8',
        'r9',
        'r10',
        'r11',
        'r12',
        'r13',
        'r14',
      ]);
      await c.waitClosed();
      assert.equal(h.broker.queueDepth('/queue/b'), 1, 'committed SEND in, aborted SEND out');
    }));

  test('R-03 500 SENDs with receipts in one write -> 500 RECEIPTs in order', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      let batch = '';
      for (let i = 0; i < 500; i++)
        batch += `SEND\ndestination:/queue/many\nreceipt:s${i}\n\n${i}\0`;
      c.write(batch);
      const frames = await framesUntilReceipt(c, 's499');
      assert.deepEqual(
        receiptIds(frames),
        Array.from({ length: 500 }, (_, i) => `s${i}`),
      );
      assert.equal(h.broker.queueDepth('/queue/many'), 500);
    }));

  test('R-03 frames split across many small writes keep their receipt order', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      let batch = '';
      for (let i = 0; i < 30; i++) batch += `BEGIN\ntransaction:t${i}\nreceipt:b${i}\n\n\0`;
      for (let i = 0; i < batch.length; i += 7) {
        c.write(batch.slice(i, i + 7));
        if (i % 70 === 0) await sleep(1);
      }
      const frames = await framesUntilReceipt(c, 'b29');
      assert.deepEqual(
        receiptIds(frames),
        Array.from({ length: 30 }, (_, i) => `b${i}`),
      );
    }));

  test('R-03 an async authorize hook that finishes out of order does not reorder receipts', () => {
    // The first SEND is authorized slowest; later frames must still be receipted after it.
    const delays: Record<string, number> = {
      '/queue/slow': 80,
      '/queue/mid': 30,
      '/queue/fast': 0,
    };
    return withBroker(
      {
        authorize: async (_c, _action, destination) => {
          await sleep(delays[destination] ?? 0);
          return true;
        },
      },
      async (h) => {
        const c = await h.connect('1.2');
        c.write(
          'SEND\ndestination:/queue/slow\nreceipt:1\n\nx\0' +
            'SEND\ndestination:/queue/mid\nreceipt:2\n\nx\0' +
            'BEGIN\ntransaction:t\nreceipt:3\n\n\0' +
            'SUBSCRIBE\nid:0\ndestination:/queue/fast\nreceipt:4\n\n\0' +
            'SEND\ndestination:/queue/fast\nreceipt:5\n\nx\0',
        );
        const frames = await framesUntilReceipt(c, '5');
        assert.deepEqual(receiptIds(frames), ['1', '2', '3', '4', '5']);
      },
    );
  });

  test('R-02 a RECEIPT for a SEND means it was processed: the message is already queued', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('SEND\ndestination:/queue/q\nreceipt:s\n\nx\0');
      await c.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/q'), 1);
    }));

  test('R-01 SUBSCRIBE: the RECEIPT comes before the queued messages delivered to it', () =>
    withBroker({}, async (h) => {
      const p = await h.connect('1.2');
      p.write(
        'SEND\ndestination:/queue/w\n\n1\0' +
          'SEND\ndestination:/queue/w\n\n2\0' +
          'SEND\ndestination:/queue/w\nreceipt:p\n\n3\0',
      );
      await p.expect('RECEIPT');
      const c = await h.connect('1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/w\nreceipt:sub\n\n\0');
      const first = await c.next();
      assert.equal(first.command, 'RECEIPT');
      assert.equal(first.header('receipt-id'), 'sub');
      for (const body of ['1', '2', '3']) {
        assert.equal((await c.expect('MESSAGE')).body.toString(), body);
      }
    }));

  test('R-01 the same receipt value twice -> two RECEIPTs (receipts are per frame)', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write(
        'BEGIN\ntransaction:a\nreceipt:dup\n\n\0' + 'BEGIN\ntransaction:b\nreceipt:dup\n\n\0',
      );
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'dup');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'dup');
    }));
});
