/**
 * CONNECT / STOMP and version negotiation: C-01 (STOMP command), C-02 (highest common
 * version, missing accept-version = 1.0), C-03 (no common version -> ERROR with `version`,
 * then close), C-07 (CONNECTED headers), C-08 (no RECEIPT for CONNECT), HB-06 (no
 * heart-beat header for 1.0), E-07 (session ids free of `:` `\` CR LF).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/index.js';
import { expectErrorThenClose, withBroker, TEXT_PLAIN } from '../helpers/session.js';

const SERVER = /^coilmq\/\d+\.\d+\.\d+/;

describe('C-02 version negotiation', () => {
  const cases: Array<[accept: string, expected: string]> = [
    ['1.0,1.1,1.2', '1.2'],
    ['1.0,1.1', '1.1'],
    ['1.1', '1.1'],
    ['1.2', '1.2'],
    ['1.1,1.2', '1.2'],
    ['1.1,2.0', '1.1'], // an unknown later version is skipped, not fatal
    ['1.2,1.0', '1.2'], // highest in common even if the list is not in increasing order
  ];
  for (const [accept, expected] of cases) {
    test(`C-02 accept-version:${accept} -> version:${expected}`, () =>
      withBroker({}, async (h) => {
        const c = await h.open();
        c.write(`CONNECT\naccept-version:${accept}\nhost:localhost\n\n\0`);
        const f = await c.expect('CONNECTED');
        assert.equal(f.header('version'), expected);
      }));
  }

  test('C-02 accept-version:1.0 -> a 1.0 session (CONNECTED with version:1.0 and heart-beat:0,0, as RabbitMQ)', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.0\nhost:localhost\nheart-beat:100,100\n\n\0');
      const f = await c.expect('CONNECTED');
      assert.equal(f.header('version'), '1.0');
      assert.equal(f.header('heart-beat'), '0,0');
      assert.ok(f.header('session'));
    }));

  test('C-02 missing accept-version -> 1.0: version:1.0, heart-beat:0,0, 1.0 rules apply', () =>
    withBroker({ heartbeatMinInterval: 10 }, async (h) => {
      const c = await h.open();
      c.write('CONNECT\nlogin:guest\npasscode:guest\nheart-beat:100,100\n\n\0');
      const f = await c.expect('CONNECTED');
      assert.equal(f.header('version'), '1.0'); // as RabbitMQ says it (docs/rabbitmq.md)
      assert.equal(f.header('heart-beat'), '0,0');
      assert.ok(f.header('session'), 'C-07 [1.0] CONNECTED carries session');
      // 1.0 rules: SUBSCRIBE without id is allowed (SB-02 [1.0]); in 1.1+ it is an error.
      c.write('SUBSCRIBE\ndestination:/queue/a\nreceipt:r1\n\n\0');
      const r = await c.expect('RECEIPT');
      assert.equal(r.header('receipt-id'), 'r1');
      // ... and no heart-beats are sent even though the client asked for them.
      assert.ok(await c.quiet(300));
      assert.equal(c.heartbeats, 0);
    }));
});

describe('C-03 no common version', () => {
  for (const accept of ['2.0', '0.9,3.1', 'x']) {
    test(`C-03 accept-version:${accept} -> ERROR UNSUPPORTED_VERSION with version header, then close`, () =>
      withBroker({}, async (h) => {
        const c = await h.open();
        c.write(`CONNECT\naccept-version:${accept}\nhost:localhost\n\n\0`);
        const f = await expectErrorThenClose(c, 'UNSUPPORTED_VERSION');
        assert.equal(f.header('version'), '1.0,1.1,1.2');
        assert.match(f.header('content-type') ?? '', TEXT_PLAIN);
        assert.equal(
          c.frames.find((x) => x.command === 'CONNECTED'),
          undefined,
          'no CONNECTED after the ERROR',
        );
      }));
  }

  test('C-03 the same over STOMP', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('STOMP\naccept-version:9.9\nhost:localhost\n\n\0');
      const f = await expectErrorThenClose(c, 'UNSUPPORTED_VERSION');
      assert.equal(f.header('version'), '1.0,1.1,1.2');
    }));
});

describe('C-01 STOMP command', () => {
  for (const v of ['1.1', '1.2']) {
    test(`C-01 STOMP with accept-version:${v} -> CONNECTED version:${v}, session usable`, () =>
      withBroker({}, async (h) => {
        const c = await h.open();
        c.write(`STOMP\naccept-version:${v}\nhost:localhost\n\n\0`);
        const f = await c.expect('CONNECTED');
        assert.equal(f.header('version'), v);
        c.write('SEND\ndestination:/queue/a\nreceipt:s1\n\nhi\0');
        assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 's1');
        assert.equal(h.broker.queueDepth('/queue/a'), 1);
      }));
  }
});

describe('C-07 CONNECTED headers', () => {
  test('C-07 1.2 CONNECTED carries version, session, server, heart-beat', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      const f = await c.expect('CONNECTED');
      assert.equal(f.header('version'), '1.2');
      assert.match(f.header('server') ?? '', SERVER);
      assert.equal(f.header('server'), `coilmq/${VERSION}`);
      assert.equal(f.header('heart-beat'), '0,0');
      const session = f.header('session') ?? '';
      assert.ok(session.length > 0);
      assert.doesNotMatch(session, /[:\\\r\n]/, 'E-07 session id');
      assert.equal(f.body.length, 0);
    }));

  test('C-07 1.1 CONNECTED carries version:1.1 and server; 1.0 carries server too', () =>
    withBroker({}, async (h) => {
      const c11 = await h.open();
      c11.write('CONNECT\naccept-version:1.1\nhost:localhost\n\n\0');
      const f11 = await c11.expect('CONNECTED');
      assert.equal(f11.header('version'), '1.1');
      assert.match(f11.header('server') ?? '', SERVER);
      const c10 = await h.open();
      c10.write('CONNECT\n\n\0');
      const f10 = await c10.expect('CONNECTED');
      assert.match(f10.header('server') ?? '', SERVER);
    }));

  test('C-07 every connection gets a different session id', () =>
    withBroker({}, async (h) => {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
        ids.add((await c.expect('CONNECTED')).header('session') ?? '');
      }
      assert.equal(ids.size, 5);
    }));

  test('C-07 exactly one CONNECTED per CONNECT', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\n\n\0');
      await c.expect('CONNECTED');
      assert.ok(await c.quiet(200));
    }));
});

describe('C-08 CONNECT with receipt', () => {
  for (const command of ['CONNECT', 'STOMP']) {
    test(`C-08 ${command} with receipt -> CONNECTED and no RECEIPT`, () =>
      withBroker({}, async (h) => {
        const c = await h.open();
        c.write(`${command}\naccept-version:1.2\nhost:localhost\nreceipt:c1\n\n\0`);
        await c.expect('CONNECTED');
        assert.ok(await c.quiet(200), 'nothing after CONNECTED');
        // The session works normally afterwards.
        c.write('BEGIN\ntransaction:t\nreceipt:b1\n\n\0');
        assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'b1');
      }));
  }
});

describe('F-02 CONNECT framing', () => {
  test('F-02 CONNECT with CRLF line endings is accepted (its version is not known yet)', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('CONNECT\r\naccept-version:1.2\r\nhost:localhost\r\n\r\n\0');
      const f = await c.expect('CONNECTED');
      assert.equal(f.header('version'), '1.2');
    }));

  test('F-03 EOLs before CONNECT are skipped', () =>
    withBroker({}, async (h) => {
      const c = await h.open();
      c.write('\n\r\n\nCONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      assert.equal((await c.expect('CONNECTED')).header('version'), '1.2');
    }));
});
