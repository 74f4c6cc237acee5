/**
 * C-10 (policy): a connection that does not complete CONNECT within loginTimeout gets
 * ERROR LOGIN_TIMEOUT and is closed; one that connected in time is left alone.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, sleep, withBroker } from '../helpers/session.js';

const LOGIN_TIMEOUT = 150;

describe('C-10 login timeout', () => {
  test('C-10 a silent connection -> ERROR LOGIN_TIMEOUT after loginTimeout, then close', () =>
    withBroker({ loginTimeout: LOGIN_TIMEOUT }, async (h) => {
      const start = Date.now();
      const c = await h.open();
      await expectErrorThenClose(c, 'LOGIN_TIMEOUT');
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= LOGIN_TIMEOUT - 10, `not before the timeout (${elapsed} ms)`);
      assert.ok(elapsed < LOGIN_TIMEOUT + 2000, `soon after the timeout (${elapsed} ms)`);
    }));

  test('C-10 heart-beat EOLs alone do not count as logging in', () =>
    withBroker({ loginTimeout: LOGIN_TIMEOUT }, async (h) => {
      const c = await h.open();
      const beat = setInterval(() => c.write('\n'), 30);
      try {
        await expectErrorThenClose(c, 'LOGIN_TIMEOUT');
      } finally {
        clearInterval(beat);
      }
    }));

  test('C-10 a CONNECT trickling in byte by byte but never finished still times out', () =>
    withBroker({ loginTimeout: LOGIN_TIMEOUT }, async (h) => {
      const c = await h.open();
      const partial = 'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:slowloris';
      let i = 0;
      const drip = setInterval(() => {
        if (i < partial.length && !c.ended) c.write(partial[i++]!);
      }, 5);
      try {
        await expectErrorThenClose(c, 'LOGIN_TIMEOUT');
      } finally {
        clearInterval(drip);
      }
    }));

  test('C-10 a client that connected in time is not closed when the timeout passes', () =>
    withBroker({ loginTimeout: LOGIN_TIMEOUT }, async (h) => {
      const c = await h.connect('1.2');
      await sleep(LOGIN_TIMEOUT * 2);
      assert.equal(c.ended, false);
      assert.equal(c.frames.length, 0, 'no ERROR');
      c.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's');
    }));

  test('C-10 a slow async authenticate hook that outlasts the timeout -> LOGIN_TIMEOUT, never CONNECTED', () =>
    withBroker(
      {
        loginTimeout: LOGIN_TIMEOUT,
        authenticate: async () => {
          await sleep(LOGIN_TIMEOUT * 3);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:a\npasscode:b\n\n\0');
        await expectErrorThenClose(c, 'LOGIN_TIMEOUT');
        assert.equal(c.frames.length, 0, 'no CONNECTED after the ERROR');
      },
    ));

  test('C-10 each connection has its own timer: a late connection gets its full timeout', () =>
    withBroker({ loginTimeout: 300 }, async (h) => {
      const first = await h.open();
      await sleep(200);
      const second = await h.open();
      await expectErrorThenClose(first, 'LOGIN_TIMEOUT');
      // The second connection has had only ~100 ms: it must still be open and able to log in.
      assert.equal(second.ended, false);
      second.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await second.expect('CONNECTED');
    }));
});
