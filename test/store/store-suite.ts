/**
 * The shared store suite: what every Store implementation must do (src/store/store.ts).
 * Each implementation's test file calls `storeSuite` with a factory; see memory.test.ts
 * and sqlite.test.ts.
 *
 * `make` returns a store that is not yet open (the suite opens it), `cleanup` (run after
 * each test, after the suite has closed what it opened) removes whatever the store left
 * behind, and `reopen`, for stores whose contents outlive `close()`, returns a new,
 * unopened store on the same data. The tests that need it are skipped without it.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Store, StoreContents, StoredMessage } from '../../src/store/store.js';

export interface StoreFixture {
  store: Store;
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

/** Resolves once `store.sync` reports, rejects with its error. */
export function synced(store: Store): Promise<void> {
  return new Promise((resolve, reject) => store.sync((err) => (err ? reject(err) : resolve())));
}

export function message(
  seq: number,
  queue = 'q',
  body: Buffer | string = `body ${seq}`,
  headers?: string[],
): StoredMessage {
  return {
    seq,
    id: `m-${seq}`,
    queue,
    headers: headers ?? ['destination', `/queue/${queue}`, 'n', String(seq)],
    body: typeof body === 'string' ? Buffer.from(body) : body,
    deliveries: 0,
  };
}

/** Every message of `queue`, read in pages of `page`. */
export async function loadAll(store: Store, queue: string, page = 1000): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  let after = 0;
  for (;;) {
    const got = await store.load(queue, after, page);
    out.push(...got);
    if (got.length < page) return out;
    after = got[got.length - 1]!.seq;
  }
}

const seqs = (ms: StoredMessage[]): number[] => ms.map((m) => m.seq);

function sortedQueues(c: StoreContents): Array<{ name: string; count: number }> {
  return [...c.queues].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function storeSuite(name: string, make: () => Promise<StoreFixture>): void {
  interface Env {
    store: Store;
    contents: StoreContents;
    /** Closes the store, then opens the store `reopen` gives (undefined without one). */
    restart: (() => Promise<{ store: Store; contents: StoreContents }>) | undefined;
  }

  async function setup(t: TestContext): Promise<Env> {
    const fixture = await make();
    const opened: Store[] = [fixture.store];
    t.after(async () => {
      for (const s of opened) await s.close().catch(() => undefined);
      await fixture.cleanup();
    });
    const contents = await fixture.store.open();
    const reopen = fixture.reopen;
    let current = fixture.store;
    const restart =
      reopen === undefined
        ? undefined
        : async () => {
            await current.close();
            current = await reopen();
            opened.push(current);
            return { store: current, contents: await current.open() };
          };
    return { store: fixture.store, contents, restart };
  }

  /** For tests that need `reopen`: skips the test without it. */
  function restartOrSkip(t: TestContext, env: Env): Env['restart'] {
    if (env.restart === undefined) t.skip('this store does not outlive close()');
    return env.restart;
  }

  describe(`${name} store (shared suite)`, () => {
    test('a new store is empty', async (t) => {
      const { store, contents } = await setup(t);
      assert.deepEqual(contents, { queues: [], maxSeq: 0 });
      assert.deepEqual(await store.load('q', 0, 10), []);
    });

    test('load returns each queue’s messages in seq order, whatever order they were added in', async (t) => {
      const { store } = await setup(t);
      const queues = ['a', 'b', 'c'];
      // Several batches, each adding out of order and across queues.
      const order = [5, 1, 9, 3, 7, 2, 8, 4, 6, 12, 10, 11, 15, 13, 14];
      for (let i = 0; i < order.length; i += 5) {
        for (const seq of order.slice(i, i + 5)) store.add(message(seq, queues[seq % 3]!));
        await synced(store);
      }
      for (const [i, q] of queues.entries()) {
        const want = [...Array(15).keys()].map((k) => k + 1).filter((s) => s % 3 === i);
        const got = await store.load(q, 0, 100);
        assert.deepEqual(seqs(got), want, `queue ${q}`);
        for (const m of got) {
          assert.equal(m.queue, q);
          assert.equal(m.id, `m-${m.seq}`);
          assert.deepEqual(m.headers, ['destination', `/queue/${q}`, 'n', String(m.seq)]);
          assert.equal(m.body.toString(), `body ${m.seq}`);
          assert.equal(m.deliveries, 0);
        }
      }
      assert.deepEqual(await store.load('none', 0, 100), [], 'a queue never written');
    });

    test('load pages with afterSeq and limit', async (t) => {
      const { store } = await setup(t);
      for (let seq = 1; seq <= 50; seq++) store.add(message(seq, seq % 2 === 0 ? 'even' : 'odd'));
      await synced(store);
      assert.deepEqual(seqs(await store.load('even', 0, 10)), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
      assert.deepEqual(seqs(await store.load('even', 20, 3)), [22, 24, 26]);
      assert.deepEqual(seqs(await store.load('even', 21, 2)), [22, 24], 'afterSeq between seqs');
      assert.deepEqual(seqs(await store.load('even', 44, 10)), [46, 48, 50], 'a short last page');
      assert.deepEqual(await store.load('even', 50, 10), [], 'after the last');
      assert.deepEqual(await store.load('even', 0, 0), [], 'limit 0');
      assert.deepEqual(seqs(await store.load('odd', 0, 1)), [1]);
      const all = await loadAll(store, 'odd', 7);
      assert.deepEqual(
        seqs(all),
        [...Array(25).keys()].map((k) => 2 * k + 1),
        'paging by 7 sees each message once',
      );
    });

    test('remove deletes a message, in the same batch or a later one', async (t) => {
      const { store } = await setup(t);
      for (let seq = 1; seq <= 6; seq++) store.add(message(seq, seq <= 3 ? 'a' : 'b'));
      await synced(store);
      store.remove(2);
      store.remove(5);
      store.remove(999); // unknown: harmless
      await synced(store);
      assert.deepEqual(seqs(await store.load('a', 0, 10)), [1, 3]);
      assert.deepEqual(seqs(await store.load('b', 0, 10)), [4, 6]);
      store.remove(1);
      store.remove(3);
      await synced(store);
      assert.deepEqual(await store.load('a', 0, 10), []);
      assert.deepEqual(seqs(await store.load('b', 0, 10)), [4, 6]);
    });

    test('setDeliveries is visible in load', async (t) => {
      const { store } = await setup(t);
      for (let seq = 1; seq <= 3; seq++) store.add(message(seq));
      await synced(store);
      store.setDeliveries(1, 1);
      store.setDeliveries(3, 2);
      store.setDeliveries(3, 5); // the last one counts
      store.setDeliveries(404, 1); // unknown: harmless
      await synced(store);
      assert.deepEqual(
        (await store.load('q', 0, 10)).map((m) => [m.seq, m.deliveries]),
        [
          [1, 1],
          [2, 0],
          [3, 5],
        ],
      );
    });

    test('sync callbacks run in the order registered, each after the writes before it', async (t) => {
      const { store } = await setup(t);
      const calls: number[] = [];
      const checks: Array<Promise<void>> = [];
      let seq = 0;
      const register = (n: number): void => {
        const written = seq; // every seq up to here was added before this sync
        store.sync((err) => {
          assert.equal(err, undefined);
          calls.push(n);
          checks.push(
            store.load('q', 0, 10_000).then((ms) => {
              const got = new Set(seqs(ms));
              for (let s = 1; s <= written; s++) assert.ok(got.has(s), `sync ${n} sees seq ${s}`);
            }),
          );
        });
      };
      // Within one turn: syncs between writes, and two in a row.
      register(0);
      for (let n = 1; n <= 10; n++) {
        store.add(message(++seq));
        store.add(message(++seq));
        register(n);
      }
      register(11);
      // Across turns: each while the previous batch may still be committing.
      let n = 12;
      for (let turn = 0; turn < 5; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
        store.add(message(++seq));
        register(n++);
        register(n++);
      }
      await synced(store);
      await Promise.all(checks);
      assert.deepEqual(
        calls,
        [...Array(n).keys()],
        'every callback, once each, in registration order',
      );
    });

    test('a sync with nothing written is called, after the syncs before it', async (t) => {
      const { store } = await setup(t);
      const calls: string[] = [];
      store.sync(() => calls.push('idle'));
      store.add(message(1));
      store.sync(() => calls.push('after add'));
      store.sync(() => calls.push('nothing more'));
      await synced(store);
      store.sync(() => calls.push('idle again'));
      await synced(store);
      assert.deepEqual(calls, ['idle', 'after add', 'nothing more', 'idle again']);
    });

    test('an add then a remove of the same message in one batch leaves nothing', async (t) => {
      const { store } = await setup(t);
      store.add(message(1));
      store.add(message(2));
      store.remove(1);
      store.setDeliveries(2, 3); // updates the pending add
      store.add(message(3));
      store.setDeliveries(3, 1);
      store.remove(3);
      await synced(store);
      const got = await store.load('q', 0, 10);
      assert.deepEqual(seqs(got), [2]);
      assert.equal(got[0]!.deliveries, 3);
    });

    test('bodies come back byte for byte: empty, NULs, every byte value, 1 MiB', async (t) => {
      const { store } = await setup(t);
      const big = randomBytes(1024 * 1024);
      const every = Buffer.from([...Array(256).keys()]);
      const inside = Buffer.concat([Buffer.from('xxxx'), Buffer.from('view'), Buffer.from('yyyy')]);
      const bodies = [
        Buffer.alloc(0),
        Buffer.from([0]),
        Buffer.from('a\0b\0\0c\r\n\0'),
        every,
        big,
        inside.subarray(4, 8), // a view into a larger buffer: only its bytes count
        Buffer.from('héllo wörld ✓', 'utf8'),
      ];
      bodies.forEach((b, i) => store.add(message(i + 1, 'bin', b)));
      await synced(store);
      const got = await store.load('bin', 0, 100);
      assert.equal(got.length, bodies.length);
      got.forEach((m, i) => {
        assert.ok(Buffer.isBuffer(m.body), `body ${i} is a Buffer`);
        assert.equal(m.body.length, bodies[i]!.length, `body ${i} length`);
        assert.ok(m.body.equals(bodies[i]!), `body ${i} bytes`);
      });
    });

    test('headers, ids and queue names round-trip: unicode, colons, escapes, repeats', async (t) => {
      const { store } = await setup(t);
      const queue = 'orders/ü/日本:1';
      const headers = [
        'destination',
        `/queue/${queue}`,
        'colon:in:name',
        'a:b:c',
        'unicode',
        'héllo wörld ✓ 😀 日本語',
        'newline',
        'line1\nline2\r\n',
        'backslash',
        'c:\\dir\\file',
        'nul',
        'a\u0000b',
        'empty',
        '',
        'quote',
        '"[{}]"',
        'repeated',
        'first',
        'repeated',
        'second',
      ];
      const m = { ...message(7, queue, 'x', headers), id: 'id:😀:\u00e9' };
      store.add(m);
      await synced(store);
      const [got] = await store.load(queue, 0, 10);
      assert.ok(got);
      assert.deepEqual(got.headers, headers);
      assert.equal(got.id, m.id);
      assert.equal(got.queue, queue);
    });

    test('what the caller changes after add does not reach the store', async (t) => {
      const { store } = await setup(t);
      const m = message(1);
      store.add(m);
      m.headers.push('late', 'header');
      m.deliveries = 9;
      m.queue = 'elsewhere';
      await synced(store);
      const [got] = await store.load('q', 0, 10);
      assert.ok(got);
      assert.deepEqual(got.headers, ['destination', '/queue/q', 'n', '1']);
      assert.equal(got.deliveries, 0);
    });

    test('thousands of messages in one batch', async (t) => {
      const { store } = await setup(t);
      for (let seq = 1; seq <= 5000; seq++) store.add(message(seq, `q${seq % 4}`));
      await synced(store);
      for (let q = 0; q < 4; q++) {
        const got = await loadAll(store, `q${q}`, 500);
        assert.equal(got.length, 1250);
        assert.ok(got.every((m, i) => i === 0 || m.seq > got[i - 1]!.seq));
      }
    });

    describe('after close and reopen', () => {
      test('messages survive, in order, with their deliveries; removed ones stay removed', async (t) => {
        const env = await setup(t);
        const restart = restartOrSkip(t, env);
        if (restart === undefined) return;
        const { store } = env;
        const big = randomBytes(256 * 1024);
        for (let seq = 1; seq <= 20; seq++) {
          store.add(message(seq, seq % 2 === 0 ? 'even' : 'odd', seq === 7 ? big : undefined));
        }
        await synced(store);
        store.remove(4);
        store.remove(9);
        store.setDeliveries(2, 1);
        store.setDeliveries(7, 3);
        await synced(store);
        const before = {
          even: await store.load('even', 0, 100),
          odd: await store.load('odd', 0, 100),
        };

        const again = await restart();
        assert.deepEqual(sortedQueues(again.contents), [
          { name: 'even', count: 9 },
          { name: 'odd', count: 9 },
        ]);
        assert.equal(again.contents.maxSeq, 20);
        const even = await again.store.load('even', 0, 100);
        const odd = await again.store.load('odd', 0, 100);
        assert.deepEqual(even, before.even);
        assert.deepEqual(odd, before.odd);
        assert.ok(!seqs(even).includes(4) && !seqs(odd).includes(9), 'removed stay removed');
        assert.equal(even.find((m) => m.seq === 2)?.deliveries, 1);
        const seven = odd.find((m) => m.seq === 7);
        assert.equal(seven?.deliveries, 3);
        assert.ok(seven?.body.equals(big));
      });

      test('the reopened store takes writes and keeps them too', async (t) => {
        const env = await setup(t);
        const restart = restartOrSkip(t, env);
        if (restart === undefined) return;
        env.store.add(message(1));
        await synced(env.store);
        const second = await restart();
        second.store.add(message(2));
        second.store.remove(1);
        await synced(second.store);
        const third = await restart();
        assert.deepEqual(third.contents, { queues: [{ name: 'q', count: 1 }], maxSeq: 2 });
        assert.deepEqual(seqs(await third.store.load('q', 0, 10)), [2]);
      });

      test('maxSeq is the highest seq ever stored, even when every message was removed', async (t) => {
        const env = await setup(t);
        const restart = restartOrSkip(t, env);
        if (restart === undefined) return;
        for (let seq = 1; seq <= 10; seq++) env.store.add(message(seq, 'a'));
        await synced(env.store);
        for (let seq = 1; seq <= 10; seq++) env.store.remove(seq);
        await synced(env.store);
        const again = await restart();
        assert.deepEqual(again.contents, { queues: [], maxSeq: 10 });
      });

      test('queue counts and maxSeq come from open()', async (t) => {
        const env = await setup(t);
        const restart = restartOrSkip(t, env);
        if (restart === undefined) return;
        const counts: Record<string, number> = { alpha: 3, beta: 1, 'gamma/δ': 5 };
        let seq = 100;
        for (const [q, n] of Object.entries(counts)) {
          for (let i = 0; i < n; i++) env.store.add(message(++seq, q));
        }
        env.store.add(message(500, 'beta'));
        await synced(env.store);
        env.store.remove(500); // the highest seq is removed; maxSeq keeps it
        await synced(env.store);
        const again = await restart();
        assert.deepEqual(sortedQueues(again.contents), [
          { name: 'alpha', count: 3 },
          { name: 'beta', count: 1 },
          { name: 'gamma/δ', count: 5 },
        ]);
        assert.equal(again.contents.maxSeq, 500);
      });

      test('close commits writes that no sync waited for', async (t) => {
        const env = await setup(t);
        const restart = restartOrSkip(t, env);
        if (restart === undefined) return;
        env.store.add(message(1));
        env.store.add(message(2));
        env.store.setDeliveries(1, 2);
        const again = await restart();
        assert.deepEqual(
          (await again.store.load('q', 0, 10)).map((m) => [m.seq, m.deliveries]),
          [
            [1, 2],
            [2, 0],
          ],
        );
      });
    });
  });
}
