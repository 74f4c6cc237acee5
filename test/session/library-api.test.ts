/**
 * The library API: startBroker / address() with port 0, close() (every client gets ERROR
 * SERVER_SHUTDOWN and is closed; close() resolves; the port then refuses connections),
 * option validation (resolveOptions: a TypeError naming the option), stats().
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { inspect } from 'node:util';
import { startBroker, type BrokerOptions } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { expectErrorThenClose, openHalfOpen, until, withBroker } from '../helpers/session.js';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('address()', () => {
  test('port 0 -> address() reports the bound host and a real port, which accepts STOMP', () =>
    withBroker({}, async (h) => {
      const a = h.broker.address();
      assert.equal(a.host, '127.0.0.1');
      assert.ok(Number.isInteger(a.port) && a.port > 0 && a.port <= 65535);
      const c = await RawClient.open(a.port);
      h.track(c);
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await c.expect('CONNECTED');
    }));

  test('two brokers on port 0 get different ports', async () => {
    const a = await startBroker({ port: 0 });
    const b = await startBroker({ port: 0 });
    try {
      assert.notEqual(a.address().port, b.address().port);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('close()', () => {
  test('close() sends ERROR SERVER_SHUTDOWN to every client, closes them, and resolves', async () => {
    const b = await startBroker({ port: 0 });
    const port = b.address().port;
    const clients: RawClient[] = [];
    try {
      const c12 = await RawClient.connect(port, '1.2');
      const c10 = await RawClient.connect(port, '1.0');
      const pending = await RawClient.open(port); // not yet CONNECTed
      clients.push(c12, c10, pending);
      c12.write('SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:r\n\n\0');
      await c12.expect('RECEIPT');
      await until(() => b.stats().connections === 3, 'three connections');
      const closing = b.close();
      for (const c of clients) await expectErrorThenClose(c, 'SERVER_SHUTDOWN');
      await closing;
      assert.equal(b.stats().connections, 0);
    } finally {
      for (const c of clients) c.destroy();
      await b.close();
    }
  });

  test('after close() the port refuses connections', async () => {
    const b = await startBroker({ port: 0 });
    const port = b.address().port;
    const c = await RawClient.connect(port, '1.2');
    try {
      await b.close();
      assert.ok(await refused(port), 'ECONNREFUSED');
    } finally {
      c.destroy();
    }
  });

  test('close() with no clients resolves promptly; calling it twice is harmless', async () => {
    const b = await startBroker({ port: 0 });
    const start = Date.now();
    const p1 = b.close();
    const p2 = b.close();
    await Promise.all([p1, p2]);
    assert.ok(Date.now() - start < 1000);
  });

  test('close() resolves even when a client never closes its side (after closeLinger)', async () => {
    const b = await startBroker({ port: 0, closeLinger: 200 });
    const s = await openHalfOpen(b.address().port);
    s.on('error', () => {});
    try {
      s.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await until(() => b.stats().connections === 1, 'connected');
      const start = Date.now();
      await b.close();
      assert.ok(Date.now() - start < 2000, `resolved in ${Date.now() - start} ms`);
    } finally {
      s.destroy();
    }
  });

  test('close() also tells clients that are mid-frame', async () => {
    const b = await startBroker({ port: 0 });
    const c = await RawClient.connect(b.address().port, '1.2');
    try {
      c.write('SEND\ndestination:/queue/a\n\npartial body, no NUL yet');
      await new Promise((r) => setTimeout(r, 20));
      const closing = b.close();
      await expectErrorThenClose(c, 'SERVER_SHUTDOWN');
      await closing;
      assert.equal(b.queueDepth('/queue/a'), 0);
    } finally {
      c.destroy();
    }
  });
});

describe('option validation', () => {
  const bad: Array<[options: BrokerOptions, name: string]> = [
    [{ port: -1 }, 'port'],
    [{ port: 70000 }, 'port'],
    [{ port: 1.5 }, 'port'],
    [{ maxFrameSize: -5 }, 'maxFrameSize'],
    [{ maxHeaders: 2.5 }, 'maxHeaders'],
    [{ loginTimeout: Number.NaN }, 'loginTimeout'],
    [{ maxConnections: '10' as unknown as number }, 'maxConnections'],
    [{ heartbeatGrace: 0.5 }, 'heartbeatGrace'],
    [{ heartbeatMinInterval: -1 }, 'heartbeatMinInterval'],
    [{ closeLinger: -1 }, 'closeLinger'],
    [{ subscriberScheduler: 'fastest' as unknown as 'random' }, 'subscriberScheduler'],
    [{ queueScheduler: 'favor-reliable' as unknown as 'random' }, 'queueScheduler'],
    [{ authenticate: 'yes' as unknown as () => boolean }, 'authenticate'],
    [{ authorize: {} as unknown as () => boolean }, 'authorize'],
    [{ host: 42 as unknown as string }, 'host'],
  ];
  for (const [options, name] of bad) {
    test(`startBroker(${inspect(options)}) rejects with a TypeError naming ${name}`, async () => {
      await assert.rejects(startBroker({ ...options }), (e: unknown) => {
        assert.ok(e instanceof TypeError, `TypeError, got ${String(e)}`);
        assert.match(e.message, new RegExp(`\\b${name}\\b`));
        return true;
      });
    });
  }

  test('valid edge values are accepted: heartbeatGrace 1, loginTimeout 0, heartbeatMaxInterval 0 (no upper clamp)', () =>
    withBroker({ heartbeatGrace: 1, loginTimeout: 0, heartbeatMaxInterval: 0 }, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,3600000\n\n\0');
      assert.equal((await c.expect('CONNECTED')).header('heart-beat'), '3600000,0');
    }));
});

describe('stats()', () => {
  test('stats() counts connections and errors by code; queueDepth of an unknown queue is 0', () =>
    withBroker({}, async (h) => {
      assert.equal(h.broker.stats().connections, 0);
      assert.equal(h.broker.queueDepth('/queue/none'), 0);
      const a = await h.connect('1.2');
      await h.connect('1.1');
      assert.equal(h.broker.stats().connections, 2);
      a.write('SEND\ndestination:/queue/s\nreceipt:s\n\nx\0');
      await a.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/s'), 1);
      assert.equal(h.broker.stats().messagesQueued, 1);
      a.write('FOO\n\n\0');
      await expectErrorThenClose(a, 'UNKNOWN_COMMAND');
      await until(() => h.broker.stats().connections === 1, 'one left');
      assert.deepEqual(h.broker.stats().errors, { UNKNOWN_COMMAND: 1 });
    }));
});
