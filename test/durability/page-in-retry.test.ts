/**
 * A queue whose backlog is in the store reads it back page by page as its consumers take
 * messages. When such a read fails (a disk error), the messages stay in the store and the
 * queue tries again by itself: a consumer that is waiting, with nothing else going on that
 * would make the queue dispatch, still gets every message, once and in order (D-03).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoredMessage } from '../../src/store/store.js';
import { RawClient } from '../helpers/raw-client.js';

/** A store whose first `failures` reads fail, as a disk error would make them. */
class FlakyReads extends MemoryStore {
  failed = 0;
  constructor(private failures: number) {
    super();
  }

  override load(queue: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    if (this.failures > 0) {
      this.failures--;
      this.failed++;
      return Promise.reject(new Error('I/O error reading the store (test)'));
    }
    return super.load(queue, afterSeq, limit);
  }
}

describe('reading a backlog back from the store', () => {
  test('D-03 a failed read is retried by itself: the waiting consumer gets all, in order', async (t) => {
    const store = new FlakyReads(2);
    const broker = await startBroker({
      port: 0,
      store,
      maxQueueMessagesInMemory: 10,
      closeLinger: 200,
    });
    const clients: RawClient[] = [];
    t.after(async () => {
      for (const c of clients) c.destroy();
      await broker.close();
    });
    const port = broker.address().port;
    const p = await RawClient.connect(port, '1.2');
    clients.push(p);
    const n = 30;
    let frames = '';
    for (let i = 0; i < n; i++) {
      frames += `SEND\ndestination:/queue/flaky\n${i === n - 1 ? 'receipt:r\n' : ''}\nm${i}\0`;
    }
    p.write(frames);
    assert.equal((await p.next()).command, 'RECEIPT');
    // 10 in memory, the other 20 only in the store.
    assert.equal(broker.queueDepth('/queue/flaky'), n);

    const c = await RawClient.connect(port, '1.2');
    clients.push(c);
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/flaky\n\n\0');
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const m = await c.next(10_000);
      assert.equal(m.command, 'MESSAGE');
      bodies.push(m.body.toString());
    }
    assert.deepEqual(
      bodies,
      Array.from({ length: n }, (_, i) => `m${i}`),
    );
    assert.equal(store.failed, 2, 'both failing reads happened');
    assert.equal(await c.quiet(200), true, 'nothing twice');
  });
});
