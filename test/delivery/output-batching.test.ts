/**
 * Output batching: the MESSAGEs a connection gets in one event-loop turn after the first
 * are encoded into one buffer (Connection's slab) and written together. Seen from the
 * wire, nothing may change: every frame whole and in order (F-01, B-04), a RECEIPT in its
 * place among them, escaped and non-ASCII subscription ids intact (E-04), bodies of
 * every size, including those too large for a slab, and a 1.0 session's frames alike.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, setup, subscribe, type Frame } from '../helpers/delivery.js';

/** Sizes that cross the slab's limits: empty, small, near and above its largest frame. */
const SIZES = [0, 10, 3000, 4050, 5000, 200, 20_000, 1];

function body(i: number): Buffer {
  const b = Buffer.alloc(SIZES[i % SIZES.length]!, 0x61 + (i % 26));
  if (b.length > 4) b.write(`#${i}#`, 0, 'latin1');
  return b;
}

describe('output batching: MESSAGEs of one turn written as one buffer', () => {
  test('R-02 B-04: 200 SENDs in one chunk come back whole, in order, the RECEIPT in its place', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/batch', { id: 's' });
    const n = 200;
    const chunks: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const headers: Record<string, string> = { destination: '/queue/batch' };
      if (i === 120) headers.receipt = 'r120';
      chunks.push(frame('SEND', headers, body(i)));
    }
    // One write: the broker reads the SENDs and delivers their MESSAGEs in one turn.
    c.write(Buffer.concat(chunks));
    const got: Frame[] = [];
    for (let i = 0; i < n + 1; i++) got.push(await c.next());
    // No store: the RECEIPT is written as soon as SEND 120 is handled, after its MESSAGE.
    assert.equal(got[121]!.command, 'RECEIPT');
    assert.equal(got[121]!.header('receipt-id'), 'r120');
    const ms = got.filter((f) => f.command === 'MESSAGE');
    assert.equal(ms.length, n);
    ms.forEach((m, i) => {
      assert.deepEqual(m.body, body(i), `message ${i}`);
      assert.equal(m.header('content-length'), String(body(i).length));
      assert.equal(m.header('subscription'), 's');
    });
    assert.equal(await c.quiet(100), true);
  });

  for (const [version, id] of [
    ['1.2', 'sub:\u00e9\\1'],
    ['1.1', 'sub:\u00e9\\1'],
    ['1.0', 'plain-1'],
  ] as const) {
    test(`E-04 [${version}] a subscription id ${JSON.stringify(id)} reads back the same on every batched MESSAGE`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(version);
      // Written escaped as the version requires (E-02, E-03; 1.0 has no escapes).
      const wireId = version === '1.0' ? id : id.replace(/\\/g, '\\\\').replace(/:/g, '\\c');
      c.write(frame('SUBSCRIBE', { id: wireId, destination: '/queue/ids', receipt: 'sub' }));
      assert.equal((await c.next()).command, 'RECEIPT');
      const p = await env.connect('1.2');
      const chunks: Buffer[] = [];
      for (let i = 0; i < 50; i++) {
        chunks.push(frame('SEND', { destination: '/queue/ids', k: `v${i}` }, `b${i}`));
      }
      p.write(Buffer.concat(chunks));
      for (let i = 0; i < 50; i++) {
        const m = await c.next();
        assert.equal(m.command, 'MESSAGE');
        assert.equal(m.header('subscription'), id);
        assert.equal(m.header('k'), `v${i}`);
        assert.equal(m.body.toString(), `b${i}`);
      }
    });
  }
});
