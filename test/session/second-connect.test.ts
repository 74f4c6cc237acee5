/**
 * C-09 (policy): a second CONNECT (or STOMP) on a connected session -> ERROR
 * ALREADY_CONNECTED, then close. 1.P item 7. The session's state is released
 * (its subscriptions stop receiving; other sessions are unaffected).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectErrorThenClose, until, withBroker } from '../helpers/session.js';

describe('C-09 second CONNECT', () => {
  for (const version of ['1.0', '1.1', '1.2'] as const) {
    for (const command of ['CONNECT', 'STOMP']) {
      test(`C-09 ${version}: a second ${command} -> ERROR ALREADY_CONNECTED, then close`, () =>
        withBroker({}, async (h) => {
          const c = await h.connect(version);
          c.write(`${command}\naccept-version:1.0,1.1,1.2\nhost:localhost\nreceipt:again\n\n\0`);
          const f = await expectErrorThenClose(c, 'ALREADY_CONNECTED');
          assert.equal(f.header('command'), command);
          assert.equal(
            c.frames.find((x) => x.command === 'CONNECTED'),
            undefined,
            'exactly one CONNECTED',
          );
        }));
    }
  }

  test('C-09 the authenticate hook is not called again, and later frames are not processed', () => {
    let calls = 0;
    return withBroker(
      {
        authenticate: () => {
          calls++;
          return true;
        },
      },
      async (h) => {
        const c = await h.connect('1.2', { login: 'a', passcode: 'b' });
        c.write(
          'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:root\npasscode:x\n\n\0' +
            'SEND\ndestination:/queue/a\nreceipt:s\n\nx\0',
        );
        await expectErrorThenClose(c, 'ALREADY_CONNECTED');
        assert.equal(calls, 1);
        assert.equal(h.broker.queueDepth('/queue/a'), 0);
      },
    );
  });

  test('C-09 the errored session is torn down; its subscription no longer takes messages', () =>
    withBroker({}, async (h) => {
      const c = await h.connect('1.2');
      c.write('SUBSCRIBE\nid:0\ndestination:/queue/a\nreceipt:r\n\n\0');
      await c.expect('RECEIPT');
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await expectErrorThenClose(c, 'ALREADY_CONNECTED');
      await until(() => h.broker.stats().connections === 0, 'session released');
      const p = await h.connect('1.2');
      p.write('SEND\ndestination:/queue/a\nreceipt:s\n\nx\0');
      await p.expect('RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/a'), 1);
    }));
});
