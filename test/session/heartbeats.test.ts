/**
 * Heart-beating: HB-01 (header syntax, missing = 0,0), HB-02 (negotiation, each direction
 * on only when both sides want it), HB-03 (server sends EOLs when idle), HB-04 (any data
 * is liveness; a silent client is closed after interval x grace with HEARTBEAT_TIMEOUT;
 * late beats within grace are fine), HB-05 (clamping, and an advertised beat is really
 * sent), HB-06 (1.0: none), HB-07 (outgoing beats independent of inbound traffic).
 * 1.P item 8 (negotiation matrix, late beats within grace).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, sleep, withBroker } from '../helpers/session.js';

const MIN = 50;
const MAX = 5000;
const opts = { heartbeatMinInterval: MIN, heartbeatMaxInterval: MAX };

describe('HB-02 / HB-05 negotiation matrix', () => {
  // client heart-beat -> CONNECTED heart-beat (sx = clamp(cy) if cy > 0, sy = clamp(cx) if cx > 0)
  const matrix: Array<[client: string | undefined, server: string]> = [
    [undefined, '0,0'], // HB-01: missing header = 0,0
    ['0,0', '0,0'],
    ['100,0', '0,100'], // client can send, does not want to receive
    ['0,100', '100,0'], // client wants beats, cannot send
    ['100,200', '200,100'],
    ['10,20', `${MIN},${MIN}`], // HB-05: raised to the minimum
    ['100000,200000', `${MAX},${MAX}`], // lowered to the maximum
    [`${MIN},${MAX}`, `${MAX},${MIN}`], // exactly at the bounds
    ['0,1', `${MIN},0`],
  ];
  for (const [client, server] of matrix) {
    test(`HB-02 heart-beat:${client ?? '(none)'} -> heart-beat:${server}`, () =>
      withBroker(opts, async (h) => {
        const c = await h.open();
        const hb = client === undefined ? '' : `heart-beat:${client}\n`;
        c.write(`CONNECT\naccept-version:1.2\nhost:localhost\n${hb}\n\0`);
        const f = await c.expect('CONNECTED');
        assert.equal(f.header('heart-beat'), server);
      }));
  }

  test('HB-05 defaults: heart-beat:10,20 is raised to 1000,1000', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.1\nhost:localhost\nheart-beat:10,20\n\n\0');
      assert.equal((await c.expect('CONNECTED')).header('heart-beat'), '1000,1000');
    }));

  test('HB-06 1.0: heart-beat:0,0 in CONNECTED and no beats, whatever the client asks', () =>
    withBroker(opts, async (h) => {
      const c = await h.open();
      c.write('CONNECT\nheart-beat:100,100\n\n\0');
      const f = await c.expect('CONNECTED');
      assert.equal(f.header('heart-beat'), '0,0', 'none either way, said as RabbitMQ says it');
      assert.equal(f.header('version'), '1.0', 'as RabbitMQ says it (docs/rabbitmq.md)');
      await sleep(400);
      assert.equal(c.heartbeats, 0);
      assert.equal(c.ended, false, 'not closed for silence either');
    }));

  for (const bad of ['1', 'a,b', '-1,5', '1,2,3', '']) {
    test(`HB-01 malformed heart-beat:${JSON.stringify(bad)} -> ERROR INVALID_HEADER, then close`, () =>
      withBroker(opts, async (h) => {
        const c = await h.open();
        c.write(`CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:${bad}\n\n\0`);
        await expectErrorThenClose(c, 'INVALID_HEADER');
        assert.equal(c.frames.length, 0, 'never CONNECTED');
      }));
  }
});

describe('HB-03 server to client beats', { concurrency: true }, () => {
  test('HB-03 heart-beat:0,100 -> the idle server sends EOLs about every 100 ms', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '0,100' });
      const before = c.heartbeats;
      await sleep(650);
      const n = c.heartbeats - before;
      assert.ok(n >= 3, `at least 3 beats in 650 ms, got ${n}`);
      assert.ok(n <= 13, `not flooding, got ${n}`);
      assert.equal(c.frames.length, 0, 'beats only, no frames');
    }));

  test('HB-03 1.1 session: beats too', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.1', { 'heart-beat': '0,60' });
      await sleep(400);
      assert.ok(c.heartbeats >= 3, `got ${c.heartbeats}`);
    }));

  test('HB-02 heart-beat:0,0 and heart-beat:100,0 -> the server sends no beats', () =>
    withBroker(opts, async (h) => {
      const a = await h.connect('1.2', { 'heart-beat': '0,0' });
      const b = await h.connect('1.2', { 'heart-beat': '100,0' });
      const beat = setInterval(() => b.write('\n'), 50); // keep b alive
      try {
        await sleep(400);
      } finally {
        clearInterval(beat);
      }
      assert.equal(a.heartbeats, 0);
      assert.equal(b.heartbeats, 0);
    }));

  test('HB-07 server beats keep coming while the client sends lots of data', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '0,100' });
      const before = c.heartbeats;
      // Frames that need no answer, every 10 ms, for 700 ms: inbound traffic must not
      // reset or suppress the outbound beat timer (go-stomp bug).
      const send = setInterval(
        () => c.write('SEND\ndestination:/topic/nobody\n\n' + 'x'.repeat(2000) + '\0'),
        10,
      );
      try {
        await sleep(700);
      } finally {
        clearInterval(send);
      }
      const n = c.heartbeats - before;
      assert.ok(n >= 4, `at least 4 beats in 700 ms despite inbound traffic, got ${n}`);
      assert.equal(c.frames.length, 0);
      assert.equal(c.ended, false);
    }));

  test('HB-03 frames the server writes count as data: beats fill only the idle gaps', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '0,100' });
      c.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0');
      await c.expect('RECEIPT');
      const p = await h.connect('1.2');
      const before = c.heartbeats;
      // A MESSAGE every 20 ms: the server always has written something within 100 ms.
      const send = setInterval(() => p.write('SEND\ndestination:/topic/t\n\nm\0'), 20);
      try {
        await sleep(600);
      } finally {
        clearInterval(send);
      }
      assert.ok(c.frames.length >= 10, `messages arrived (${c.frames.length})`);
      assert.ok(c.heartbeats - before <= 2, `few or no beats, got ${c.heartbeats - before}`);
    }));
  test('HB-03 the longest silence never exceeds the interval, whatever the phase of other writes', () =>
    withBroker(opts, async (h) => {
      // Beats every 200 ms wanted; a MESSAGE every 300 ms lands at every phase of the beat
      // timer. A timer that only checks "wrote anything since the last tick" once per
      // interval leaves gaps of up to 2 x 200 ms.
      const c = await h.connect('1.2', { 'heart-beat': '0,200' });
      c.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0');
      await c.expect('RECEIPT');
      const p = await h.connect('1.2');
      let last = Date.now();
      let maxGap = 0;
      c.socket.on('data', () => {
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      });
      const send = setInterval(() => p.write('SEND\ndestination:/topic/t\n\nm\0'), 300);
      try {
        await sleep(1800);
      } finally {
        clearInterval(send);
      }
      assert.ok(maxGap <= 260, `longest silence ${maxGap} ms for a 200 ms interval`);
    }));
});

describe('HB-04 client to server liveness', { concurrency: true }, () => {
  test('HB-04 a silent client (heart-beat:100,0) -> ERROR HEARTBEAT_TIMEOUT after 100 x 1.5 ms', () =>
    withBroker(opts, async (h) => {
      // Measured from before CONNECT, so that a slow client-side read cannot shorten it.
      const start = Date.now();
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      await expectErrorThenClose(c, 'HEARTBEAT_TIMEOUT');
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 140, `not before 1.5 x the interval (${elapsed} ms)`);
      assert.ok(elapsed < 1500, `reasonably soon (${elapsed} ms)`);
    }));

  test('HB-04 heartbeatGrace scales the timeout (grace 4 -> not closed at 250 ms, closed by ~400)', () =>
    withBroker({ ...opts, heartbeatGrace: 4 }, async (h) => {
      const start = Date.now();
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      await sleep(250);
      assert.equal(c.ended, false, 'still open after 2.5 intervals');
      await expectErrorThenClose(c, 'HEARTBEAT_TIMEOUT');
      assert.ok(Date.now() - start >= 390);
    }));

  test('HB-04 the timeout uses max(cx, sy): a clamped-up interval is respected', () =>
    withBroker({ heartbeatMinInterval: 200, heartbeatMaxInterval: MAX }, async (h) => {
      // cx = 20 is raised to sy = 200; a client beating every 120 ms is within 200 x 1.5.
      const c = await h.connect('1.2', { 'heart-beat': '20,0' });
      const beat = setInterval(() => c.write('\n'), 120);
      try {
        await sleep(700);
      } finally {
        clearInterval(beat);
      }
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0);
    }));

  test('HB-04 1.P#8 late beats within grace keep the connection open', () =>
    withBroker({ ...opts, heartbeatGrace: 2 }, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      // Every 140 ms: 40 % late, but within 100 x 2.
      const beat = setInterval(() => c.write('\n'), 140);
      try {
        await sleep(900);
      } finally {
        clearInterval(beat);
      }
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0, 'no ERROR');
      c.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
    }));

  test('HB-04 frames count as liveness just like EOLs', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      const send = setInterval(() => c.write('SEND\ndestination:/topic/x\n\nping\0'), 60);
      try {
        await sleep(700);
      } finally {
        clearInterval(send);
      }
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0);
    }));

  test('HB-03 1.2 CRLF heart-beats count as liveness', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      const beat = setInterval(() => c.write('\r\n'), 60);
      try {
        await sleep(600);
      } finally {
        clearInterval(beat);
      }
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0);
    }));

  test('HB-04 a client that beats, then stops, is closed', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      const beat = setInterval(() => c.write('\n'), 50);
      await sleep(400);
      clearInterval(beat);
      assert.equal(c.ended, false);
      await expectErrorThenClose(c, 'HEARTBEAT_TIMEOUT');
    }));

  test('HB-02 heart-beat:0,100 (client cannot send) -> a silent client is never timed out', () =>
    withBroker(opts, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '0,100' });
      await sleep(500);
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0);
    }));

  test('HB-04 the timeout of one session leaves others alone', () =>
    withBroker(opts, async (h) => {
      const quiet = await h.connect('1.2', { 'heart-beat': '100,0' });
      const other = await h.connect('1.2');
      await expectErrorThenClose(quiet, 'HEARTBEAT_TIMEOUT');
      other.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      assert.equal((await other.expect('RECEIPT')).header('receipt-id'), 's');
    }));
});

describe('HB-04 liveness while the broker itself stops reading', { concurrency: true }, () => {
  // Any data the client sends counts (HB-04). While the broker has paused reading from a
  // client (an async hook is running, or the client is flow-controlled by a full queue),
  // a client that keeps beating must not be closed for silence.
  test('HB-04 a beating client is not timed out while a slow async authorize hook runs', () =>
    withBroker(
      {
        ...opts,
        authorize: async () => {
          await sleep(400);
          return true;
        },
      },
      async (h) => {
        const c = await h.connect('1.2', { 'heart-beat': '100,0' });
        c.write('SEND\ndestination:/queue/x\nreceipt:s\n\n1\0');
        const beat = setInterval(() => c.write('\n'), 40);
        try {
          const r = await c.next(2000);
          assert.equal(r.command, 'RECEIPT', `got ${r.command} ${r.header('code')}`);
          assert.equal(r.header('receipt-id'), 's');
        } finally {
          clearInterval(beat);
        }
        assert.equal(c.ended, false);
      },
    ));

  test('HB-04 a beating producer paused by a full queue is not timed out', () =>
    withBroker({ ...opts, maxQueueMessagesInMemory: 2 }, async (h) => {
      const c = await h.connect('1.2', { 'heart-beat': '100,0' });
      c.write(
        'SEND\ndestination:/queue/full\n\n1\0' +
          'SEND\ndestination:/queue/full\n\n2\0' +
          'SEND\ndestination:/queue/full\nreceipt:s3\n\n3\0',
      );
      const beat = setInterval(() => c.write('\n'), 40);
      try {
        await sleep(600);
        assert.deepEqual(
          c.frames.map((f) => `${f.command}:${f.header('code') ?? ''}`),
          [],
          'no ERROR while paused',
        );
        assert.equal(c.ended, false, 'still open');
        // A consumer drains the queue; the producer is read again.
        const consumer = await h.connect('1.2');
        consumer.write('SUBSCRIBE\nid:0\ndestination:/queue/full\n\n\0');
        await consumer.expect('MESSAGE');
        const r = await c.next(2000);
        assert.equal(r.command, 'RECEIPT', `got ${r.command} ${r.header('code')}`);
      } finally {
        clearInterval(beat);
      }
    }));
});
