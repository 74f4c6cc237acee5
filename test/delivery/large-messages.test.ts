/**
 * Large messages: a 4 MiB body full of NULs and every other byte value (B-02, B-04, 1.P
 * item 2) goes through a queue and a topic byte-exact, with content-length, to consumers
 * of every version, also when the SEND arrives in small TCP writes and when several
 * large messages follow each other.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { messages, setup, subscribe, type StompVersion } from '../helpers/delivery.js';

const MiB = 1024 * 1024;

/** 4 MiB: random bytes with runs of NULs, starting and ending with NUL. */
function bigBody(size = 4 * MiB): Buffer {
  const b = randomBytes(size);
  for (let i = 0; i < size; i += 4096) b.fill(0, i, Math.min(size, i + 64));
  b[0] = 0;
  b[size - 1] = 0;
  return b;
}

function sendFrame(dest: string, body: Buffer, extra = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`SEND\ndestination:${dest}\ncontent-length:${body.length}\n${extra}\n`),
    body,
    Buffer.from('\0'),
  ]);
}

describe('large messages', () => {
  test('B-02 a 4 MiB body with NULs through a queue arrives byte-exact', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/big', { id: 's', ack: 'client' });
    const p = await env.connect('1.2');
    const body = bigBody();
    p.write(sendFrame('/queue/big', body, 'receipt:r\n'));
    await p.expect('RECEIPT', 10000);
    const m = await c.expect('MESSAGE', 10000);
    assert.equal(m.header('content-length'), String(4 * MiB));
    assert.equal(m.body.length, body.length);
    assert.ok(m.body.equals(body), 'byte-exact');
    c.write(`ACK\nid:${m.header('ack')}\nreceipt:a\n\n\0`);
    await c.expect('RECEIPT');
  });

  test('B-02 a 4 MiB body through a topic to 1.0, 1.1 and 1.2 subscribers, byte-exact', async (t) => {
    const env = await setup(t);
    const subs = await Promise.all(
      (['1.0', '1.1', '1.2'] as StompVersion[]).map((v) => env.connect(v)),
    );
    for (const c of subs) await subscribe(c, '/topic/big', { id: 's' });
    const p = await env.connect('1.1');
    const body = bigBody();
    p.write(sendFrame('/topic/big', body));
    for (const c of subs) {
      const m = await c.expect('MESSAGE', 10000);
      assert.equal(m.header('content-length'), String(body.length));
      assert.ok(m.body.equals(body), 'byte-exact');
    }
  });

  test('B-02 a 4 MiB SEND written in 64 KiB pieces arrives byte-exact, and the next frame too', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/pieces', { id: 's' });
    const p = await env.connect('1.2');
    const body = bigBody();
    const bytes = Buffer.concat([
      sendFrame('/queue/pieces', body),
      Buffer.from('SEND\ndestination:/queue/pieces\n\nsmall\0'),
    ]);
    for (let i = 0; i < bytes.length; i += 64 * 1024) {
      p.write(bytes.subarray(i, i + 64 * 1024));
      if (i % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
    }
    const [m, n] = await messages(c, 2, 10000);
    assert.ok(m!.body.equals(body));
    assert.equal(n!.body.toString(), 'small');
  });

  test('five 1 MiB messages in a row keep their order and bytes (queue, kept until subscribe)', async (t) => {
    const env = await setup(t);
    const p = await env.connect('1.2');
    const bodies = Array.from({ length: 5 }, () => bigBody(MiB));
    p.write(Buffer.concat(bodies.map((b, i) => sendFrame('/queue/series', b, `n:${i}\n`))));
    p.write('SEND\ndestination:/queue/series\nreceipt:r\n\nlast\0');
    await p.expect('RECEIPT', 10000);
    assert.equal(env.broker.queueDepth('/queue/series'), 6);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/series', { id: 's' });
    const ms = await messages(c, 6, 10000);
    for (let i = 0; i < 5; i++) {
      assert.equal(ms[i]!.header('n'), String(i));
      assert.ok(ms[i]!.body.equals(bodies[i]!), `message ${i} byte-exact`);
    }
    assert.equal(ms[5]!.body.toString(), 'last');
  });
});
