/**
 * The authenticate hook: C-05 (login/passcode reach the hook; refusal -> ERROR AUTH_FAILED,
 * then close), sync and async hooks, frames pipelined behind a CONNECT whose async
 * authentication is pending (F-11: they must not run before, or without, authentication),
 * E-05 / 1.P item 3 (CONNECT headers are not unescaped: a passcode with `:` and `\` reaches
 * the hook byte-exact; decodeConnectEscapes opts in to decoding).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionInfo } from '../../src/index.js';
import { expectErrorThenClose, sleep, until, withBroker, TEXT_PLAIN } from '../helpers/session.js';

type Seen = { login: string | undefined; passcode: string | undefined; conn: ConnectionInfo };

describe('C-05 authenticate hook', () => {
  test('C-05 a sync hook receives login and passcode; true -> CONNECTED', () => {
    const seen: Seen[] = [];
    return withBroker(
      {
        authenticate: (login, passcode, conn) => {
          seen.push({ login, passcode, conn });
          return login === 'alice' && passcode === 's3cret';
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:alice\npasscode:s3cret\n\n\0');
        const f = await c.expect('CONNECTED');
        assert.equal(seen.length, 1);
        assert.equal(seen[0]!.login, 'alice');
        assert.equal(seen[0]!.passcode, 's3cret');
        // The ConnectionInfo the hook sees is this session.
        assert.equal(seen[0]!.conn.id, f.header('session'));
        assert.equal(seen[0]!.conn.transport, 'tcp');
        assert.match(seen[0]!.conn.remoteAddress, /127\.0\.0\.1/);
      },
    );
  });

  test('C-05 no login/passcode -> hook gets undefined for both', () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    return withBroker(
      {
        authenticate: (login, passcode) => {
          seen.push([login, passcode]);
          return true;
        },
      },
      async (h) => {
        await h.connect('1.2');
        assert.deepEqual(seen, [[undefined, undefined]]);
      },
    );
  });

  test('C-05 a sync hook returning false -> ERROR AUTH_FAILED, then close; no CONNECTED', () =>
    withBroker({ authenticate: () => false }, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:bob\npasscode:wrong\n\n\0');
      const f = await expectErrorThenClose(c, 'AUTH_FAILED');
      assert.match(f.header('content-type') ?? '', TEXT_PLAIN);
      assert.ok(f.body.length > 0, 'ERROR body explains');
      assert.equal(
        c.frames.find((x) => x.command === 'CONNECTED'),
        undefined,
      );
    }));

  test('C-05 refusal over STOMP and over a 1.0 CONNECT behaves the same', () =>
    withBroker({ authenticate: () => false }, async (h) => {
      const a = await h.open();
      a.write('STOMP\naccept-version:1.1\nhost:localhost\nlogin:x\npasscode:y\n\n\0');
      await expectErrorThenClose(a, 'AUTH_FAILED');
      const b = await h.open();
      b.write('CONNECT\nlogin:x\npasscode:y\n\n\0');
      await expectErrorThenClose(b, 'AUTH_FAILED');
    }));

  test('C-05 an async hook resolving true -> CONNECTED', () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    return withBroker(
      {
        authenticate: async (login, passcode) => {
          seen.push([login, passcode]);
          await sleep(50);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:al\npasscode:pw\n\n\0');
        assert.equal((await c.expect('CONNECTED')).header('version'), '1.2');
        assert.deepEqual(seen, [['al', 'pw']]);
      },
    );
  });

  test('C-05 an async hook resolving false -> ERROR AUTH_FAILED, then close', () =>
    withBroker(
      {
        authenticate: async () => {
          await sleep(30);
          return false;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:x\npasscode:y\n\n\0');
        await expectErrorThenClose(c, 'AUTH_FAILED');
      },
    ));

  test('C-05 an async hook that rejects -> ERROR, then close; never CONNECTED', () =>
    withBroker(
      {
        authenticate: async () => {
          await sleep(10);
          throw new Error('directory unavailable');
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:x\npasscode:y\n\n\0');
        await c.expect('ERROR');
        await c.waitClosed(3000);
        assert.equal(
          c.frames.find((x) => x.command === 'CONNECTED'),
          undefined,
        );
        await until(() => h.broker.stats().connections === 0, 'the broker to drop the session');
      },
    ));

  test('F-11 frames pipelined behind a CONNECT with pending async auth run after CONNECTED', () =>
    withBroker(
      {
        authenticate: async () => {
          await sleep(50);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write(
          'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:a\npasscode:b\n\n\0' +
            'SEND\ndestination:/queue/p\nreceipt:s1\n\nafter-auth\0',
        );
        await c.expect('CONNECTED');
        assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's1');
        assert.equal(h.broker.queueDepth('/queue/p'), 1);
      },
    ));

  test('F-11 frames pipelined behind a CONNECT that async auth refuses are never processed', () =>
    withBroker(
      {
        authenticate: async (login) => {
          await sleep(50);
          return login === 'good';
        },
      },
      async (h) => {
        const sub = await h.open();
        sub.write('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:good\npasscode:x\n\n\0');
        await sub.expect('CONNECTED');
        sub.parser.version = '1.2';
        sub.write('SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r0\n\n\0');
        await sub.expect('RECEIPT');

        const bad = await h.open();
        bad.write(
          'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:evil\npasscode:x\n\n\0' +
            'SEND\ndestination:/topic/t\n\nsneaky\0' +
            'SEND\ndestination:/queue/q\nreceipt:s1\n\nsneaky\0',
        );
        await expectErrorThenClose(bad, 'AUTH_FAILED');
        assert.equal(bad.frames.length, 0, 'no RECEIPT after the ERROR');
        assert.ok(await sub.quiet(200), 'the topic subscriber got nothing');
        assert.equal(h.broker.queueDepth('/queue/q'), 0);
      },
    ));

  test('F-11 frames pipelined behind a CONNECT that a sync hook refuses are never processed', () =>
    withBroker({ authenticate: () => false }, async (h) => {
      const bad = await h.open();
      bad.write(
        'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:evil\npasscode:x\n\n\0' +
          'SEND\ndestination:/queue/q\nreceipt:s1\n\nsneaky\0',
      );
      await expectErrorThenClose(bad, 'AUTH_FAILED');
      assert.equal(bad.frames.length, 0);
      assert.equal(h.broker.queueDepth('/queue/q'), 0);
    }));
});

describe('C-05 a session that ends while async authentication is pending', () => {
  // If the hook resolves true after the socket is gone, the session must stay dead: no
  // heart-beat timers may start (with heart-beat:0,n an interval would then run forever
  // and keep the process alive), so nothing is ever reported for it afterwards.
  test('C-05 client gone before the async hook resolves true -> the session is not established', () =>
    withBroker(
      {
        heartbeatMinInterval: 10,
        authenticate: async () => {
          await sleep(100);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:50,50\n\n\0');
        await sleep(20);
        c.destroy();
        await until(() => h.broker.stats().connections === 0, 'session dropped');
        await sleep(350); // hook resolves at 100 ms; a started heart-beat check fails by ~175 ms
        assert.deepEqual(h.broker.stats().errors, {});
      },
    ));

  test('C-05 login timeout before the async hook resolves true -> no session afterwards', () =>
    withBroker(
      {
        loginTimeout: 50,
        heartbeatMinInterval: 10,
        authenticate: async () => {
          await sleep(150);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:50,50\n\n\0');
        await expectErrorThenClose(c, 'LOGIN_TIMEOUT');
        await sleep(400);
        assert.deepEqual(h.broker.stats().errors, { LOGIN_TIMEOUT: 1 });
      },
    ));
});

describe('E-05 CONNECT headers are not unescaped', () => {
  // 1.P item 3: a passcode containing ':' and '\' (and sequences that look like escapes).
  const passcode = 'p:a\\ss\\cw\\\\o:rd\\';
  for (const [label, accept] of [
    ['1.2', 'accept-version:1.2\n'],
    ['1.1', 'accept-version:1.1\n'],
    ['1.0', ''],
  ] as const) {
    test(`E-05 ${label}: passcode with ':' and '\\' reaches the hook byte-exact`, () => {
      const seen: Array<[string | undefined, string | undefined]> = [];
      return withBroker(
        {
          authenticate: (login, pw) => {
            seen.push([login, pw]);
            return true;
          },
        },
        async (h) => {
          const c = await h.open();
          c.write(`CONNECT\n${accept}host:localhost\nlogin:us\\cer:x\npasscode:${passcode}\n\n\0`);
          await c.expect('CONNECTED');
          assert.deepEqual(seen, [['us\\cer:x', passcode]]);
        },
      );
    });
  }

  test('E-05 STOMP frame: passcode with ":" and "\\" reaches the hook byte-exact', () => {
    const seen: Array<string | undefined> = [];
    return withBroker(
      {
        authenticate: (_login, pw) => {
          seen.push(pw);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write('STOMP\naccept-version:1.2\nhost:localhost\nlogin:u\npasscode:a\\tb:c\n\n\0');
        await c.expect('CONNECTED');
        assert.deepEqual(seen, ['a\\tb:c']);
      },
    );
  });

  test('E-05 decodeConnectEscapes: \\c and \\\\ in CONNECT headers are decoded for the hook', () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    return withBroker(
      {
        decodeConnectEscapes: true,
        authenticate: (login, pw) => {
          seen.push([login, pw]);
          return true;
        },
      },
      async (h) => {
        const c = await h.open();
        c.write(
          'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:us\\cer\npasscode:p\\ca\\\\ss\n\n\0',
        );
        await c.expect('CONNECTED');
        assert.deepEqual(seen, [['us:er', 'p:a\\ss']]);
      },
    );
  });
});
