import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startBroker, type BrokerOptions } from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/store.js';
import { RawClient } from '../helpers/raw-client.js';

/** A MemoryStore whose commits wait until the test lets them through. */
class GatedStore extends MemoryStore {
  held: Array<(err?: Error) => void> = [];
  gate = false;
  failWith: Error | undefined;

  override sync(done: (err?: Error) => void): void {
    if (this.failWith !== undefined) {
      const e = this.failWith;
      queueMicrotask(() => done(e));
      return;
    }
    if (this.gate) this.held.push(done);
    else super.sync(done);
  }

  release(): void {
    this.gate = false;
    for (const d of this.held.splice(0)) super.sync(d);
  }
}

async function withBroker(
  options: BrokerOptions,
  fn: (port: number, b: Awaited<ReturnType<typeof startBroker>>) => Promise<void>,
): Promise<void> {
  const b = await startBroker({ port: 0, closeLinger: 200, ...options });
  try {
    await fn(b.address().port, b);
  } finally {
    await b.close();
  }
}

describe('R-04 a RECEIPT for a persistent SEND means the message is stored', () => {
  test('the RECEIPT waits for the store to commit', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write('SEND\ndestination:/queue/d1\nreceipt:r1\n\nhello\0');
      assert.equal(await c.quiet(150), true, 'no RECEIPT before the commit');
      store.release();
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r1');
      c.destroy();
    });
  });

  test('R-03 later receipts wait behind a held one, and keep frame order', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write(
        'SEND\ndestination:/queue/d2\nreceipt:a\n\nx\0' +
          'SUBSCRIBE\nid:t\ndestination:/topic/none\nreceipt:b\n\n\0' +
          'SEND\ndestination:/topic/other\nreceipt:c\n\ny\0',
      );
      assert.equal(await c.quiet(150), true);
      store.release();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await c.expect('RECEIPT')).header('receipt-id'));
      assert.deepEqual(ids, ['a', 'b', 'c']);
      c.destroy();
    });
  });

  test('a transient SEND (persistent:false) is not held for the store', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write('SEND\ndestination:/queue/d3\npersistent:false\nreceipt:t\n\nx\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 't');
      store.release();
      c.destroy();
    });
  });

  test('a store failure on SEND gives the client ERROR STORE_FAILED with receipt-id, others carry on', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const other = await RawClient.connect(port, '1.2');
      const c = await RawClient.connect(port, '1.2');
      store.failWith = new Error('disk full');
      c.write('SEND\ndestination:/queue/d4\nreceipt:r\n\nx\0');
      const e = await c.expect('ERROR');
      assert.equal(e.header('code'), 'STORE_FAILED');
      assert.equal(e.header('receipt-id'), 'r');
      assert.match(e.header('message')!, /disk full/);
      await c.waitClosed();
      store.failWith = undefined;
      other.write('SEND\ndestination:/topic/t\nreceipt:ok\n\ny\0');
      assert.equal((await other.expect('RECEIPT')).header('receipt-id'), 'ok');
      other.destroy();
    });
  });

  test('D-01 DISCONNECT receipt after a held SEND comes once the SEND is stored, then close', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write('SEND\ndestination:/queue/d5\nreceipt:s\n\nx\0DISCONNECT\nreceipt:bye\n\n\0');
      assert.equal(await c.quiet(100), true);
      store.release();
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'bye');
      await c.waitClosed();
    });
  });
});

describe('review regressions', () => {
  test('R-02 a RECEIPT waits for earlier unreceipted persistent SENDs too (DISCONNECT receipt)', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write('SEND\ndestination:/queue/rr\n\nno receipt\0DISCONNECT\nreceipt:bye\n\n\0');
      assert.equal(await c.quiet(150), true, 'no RECEIPT while the SEND is not on disk');
      store.release();
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'bye');
      await c.waitClosed();
    });
  });

  test('R-01 a waiting RECEIPT still arrives when DISCONNECT asks for none', async () => {
    const store = new GatedStore();
    await withBroker({ store }, async (port) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      c.write('SEND\ndestination:/queue/rd\nreceipt:r1\n\nx\0DISCONNECT\n\n\0');
      await new Promise((r) => setTimeout(r, 100));
      store.release();
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r1');
      await c.waitClosed();
    });
  });

  test('T-02 a transactional SEND committed after later SENDs spilled to disk is delivered once, with the rest', async () => {
    const store = new MemoryStore();
    await withBroker({ store, maxQueueMessagesInMemory: 4 }, async (port) => {
      const p = await RawClient.connect(port, '1.2');
      let frames = 'BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/tx\ntransaction:t\n\ntx1\0';
      for (let i = 2; i <= 6; i++) frames += `SEND\ndestination:/queue/tx\n\nm${i}\0`;
      frames += 'COMMIT\ntransaction:t\nreceipt:c\n\n\0';
      p.write(frames);
      await p.expect('RECEIPT');
      const c = await RawClient.connect(port, '1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/tx\nack:client-individual\n\n\0');
      const bodies = [];
      for (let i = 0; i < 6; i++) {
        const m = await c.expect('MESSAGE');
        bodies.push(m.body.toString());
        c.write(`ACK\nid:${m.header('ack')}\n\n\0`);
      }
      assert.deepEqual(bodies, ['m2', 'm3', 'm4', 'm5', 'm6', 'tx1']);
      assert.equal(await c.quiet(150), true, 'nothing twice');
      p.destroy();
      c.destroy();
    });
  });
});

describe('a disk slower than the producers', () => {
  test('producers are paused while the store has more than maxStorePendingBytes to write', async () => {
    class SlowDisk extends GatedStore {
      pending = 0;
      get pendingBytes(): number {
        return this.pending;
      }
      override add(m: Parameters<MemoryStore['add']>[0]): void {
        super.add(m);
        this.pending += m.body.length;
      }
      override release(): void {
        this.pending = 0;
        super.release();
      }
    }
    const store = new SlowDisk();
    await withBroker({ store, maxStorePendingBytes: 1000 }, async (port, b) => {
      const c = await RawClient.connect(port, '1.2');
      store.gate = true;
      const body = 'x'.repeat(500);
      let frames = '';
      for (let i = 0; i < 10; i++)
        frames += `SEND\ndestination:/queue/slow\nreceipt:r${i}\n\n${body}\0`;
      c.write(frames);
      await new Promise((r) => setTimeout(r, 200));
      // 500 + 500 + 500 bytes pass the 1000-byte mark at the third SEND: reading stops there.
      assert.equal(b.queueDepth('/queue/slow'), 3);
      store.release();
      for (let i = 0; i < 10; i++)
        assert.equal((await c.expect('RECEIPT')).header('receipt-id'), `r${i}`);
      assert.equal(b.queueDepth('/queue/slow'), 10);
      c.destroy();
    });
  });
});

describe('restart: queues come back from the store', () => {
  test('queued messages return in order; delivered-unacked first, marked redelivered; acked ones never', async () => {
    const store: Store = new MemoryStore();
    await withBroker({ store }, async (port) => {
      const p = await RawClient.connect(port, '1.2');
      let frames = '';
      for (let i = 0; i < 6; i++)
        frames += `SEND\ndestination:/queue/r\nn:${i}\nreceipt:s${i}\n\nm${i}\0`;
      p.write(frames);
      for (let i = 0; i < 6; i++) await p.expect('RECEIPT');
      const c = await RawClient.connect(port, '1.2');
      c.write(
        'SUBSCRIBE\nid:0\ndestination:/queue/r\nack:client-individual\nprefetch-count:3\n\n\0',
      );
      const got = [await c.expect('MESSAGE'), await c.expect('MESSAGE'), await c.expect('MESSAGE')];
      assert.deepEqual(
        got.map((m) => m.body.toString()),
        ['m0', 'm1', 'm2'],
      );
      c.write(`ACK\nid:${got[1]!.header('ack')}\nreceipt:a\n\n\0`);
      // The ACK frees a slot, so m3 follows; the RECEIPT waits for the removal to be stored.
      const next = [await c.next(), await c.next()].sort((a, b) =>
        a.command.localeCompare(b.command),
      );
      assert.deepEqual(
        next.map((f) => f.command),
        ['MESSAGE', 'RECEIPT'],
      );
      assert.equal(next[0]!.body.toString(), 'm3');
      // The broker stops with m0, m2 and m3 delivered but not acknowledged.
    });
    await withBroker({ store }, async (port, b) => {
      assert.equal(b.queueDepth('/queue/r'), 5);
      const c = await RawClient.connect(port, '1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/r\n\n\0');
      const bodies = [];
      for (let i = 0; i < 5; i++) {
        const m = await c.expect('MESSAGE');
        bodies.push(m.body.toString());
        if (['m0', 'm2', 'm3'].includes(m.body.toString())) {
          assert.equal(m.header('redelivered'), 'true');
          assert.equal(m.header('x-delivery-count'), '1');
        } else {
          assert.equal(m.header('redelivered'), undefined);
        }
      }
      assert.deepEqual(bodies, ['m0', 'm2', 'm3', 'm4', 'm5']);
      assert.equal(await c.quiet(100), true, 'm1 was acknowledged: it never comes back');
      c.destroy();
    });
  });

  test('persistent:false and topic messages are not stored', async () => {
    const store = new MemoryStore();
    await withBroker({ store }, async (port) => {
      const p = await RawClient.connect(port, '1.2');
      p.write('SEND\ndestination:/queue/t1\npersistent:false\n\ngone\0');
      p.write('SEND\ndestination:/queue/t1\n\nkept\0');
      p.write('SEND\ndestination:/topic/t1\nreceipt:r\n\nnever\0');
      await p.expect('RECEIPT');
    });
    const contents = await store.open();
    assert.deepEqual(contents.queues, [{ name: '/queue/t1', count: 1 }]);
    assert.deepEqual(
      (await store.load('/queue/t1', 0, 10)).map((m) => m.body.toString()),
      ['kept'],
    );
  });

  test('message ids survive a restart and new ones do not collide', async () => {
    const store = new MemoryStore();
    let firstId = '';
    await withBroker({ store }, async (port) => {
      const p = await RawClient.connect(port, '1.2');
      p.write('SEND\ndestination:/queue/ids\nreceipt:r\n\na\0');
      await p.expect('RECEIPT');
    });
    await withBroker({ store }, async (port) => {
      const p = await RawClient.connect(port, '1.2');
      p.write(
        'SEND\ndestination:/queue/ids\nreceipt:r\n\nb\0SUBSCRIBE\nid:0\ndestination:/queue/ids\n\n\0',
      );
      await p.expect('RECEIPT');
      const a = await p.expect('MESSAGE');
      const b2 = await p.expect('MESSAGE');
      firstId = a.header('message-id')!;
      assert.equal(a.body.toString(), 'a');
      assert.notEqual(firstId, b2.header('message-id'));
    });
  });
});

describe('bounded memory: a queue pages messages in from the store', () => {
  test('a backlog larger than the memory limit is accepted without pausing the producer and drains in order', async () => {
    const store = new MemoryStore();
    await withBroker({ store, maxQueueMessagesInMemory: 10 }, async (port, b) => {
      const p = await RawClient.connect(port, '1.2');
      let frames = '';
      for (let i = 0; i < 300; i++)
        frames += `SEND\ndestination:/queue/big\nreceipt:r${i}\n\n${i}\0`;
      p.write(frames);
      for (let i = 0; i < 300; i++) await p.expect('RECEIPT');
      assert.equal(b.queueDepth('/queue/big'), 300);
      assert.ok(b.stats().messagesInMemory <= 10, `in memory: ${b.stats().messagesInMemory}`);
      const c = await RawClient.connect(port, '1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/big\nack:client\nprefetch-count:50\n\n\0');
      for (let i = 0; i < 300; i++) {
        const m = await c.expect('MESSAGE');
        assert.equal(m.body.toString(), String(i));
        if (i % 50 === 49) c.write(`ACK\nid:${m.header('ack')}\n\n\0`);
      }
      assert.equal(await c.quiet(100), true);
      c.destroy();
      p.destroy();
    });
  });
});

describe('F-10 a 1.0 CONNECT is trimmed like other 1.0 frames', () => {
  test('"login: bob" reaches the hook as bob', async () => {
    const seen: Array<string | undefined> = [];
    await withBroker(
      {
        authenticate: (login, passcode) => {
          seen.push(login, passcode);
          return true;
        },
      },
      async (port) => {
        const c = await RawClient.open(port);
        c.write('CONNECT\nlogin: bob\npasscode: secret \n\n\0');
        await c.expect('CONNECTED');
        assert.deepEqual(seen, ['bob', 'secret']);
        c.destroy();
      },
    );
  });
});
