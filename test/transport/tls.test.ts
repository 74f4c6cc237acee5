/**
 * STOMP over TLS (TCP) and over secure WebSocket, with certificates made at test time by
 * the `openssl` command: raw clients, @stomp/stompjs over TLS TCP (@stomp/tcp-wrapper with
 * a TLS socket), TLS 1.1 refused, and client certificates whose CN becomes the login.
 */
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Client, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import { rulesAuthorizer } from '../../src/auth/acl.js';
import { setPasscode, UserDatabase, usersAuthenticator } from '../../src/auth/users.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { RawClient } from '../helpers/raw-client.js';
import { needs } from '../helpers/requires.js';
import { WsClient } from '../helpers/ws-client.js';

let pki: TestPki;
let cleanups: Array<() => unknown> = [];

before(() => {
  if (needs('openssl').skip === undefined) pki = makeTestPki();
});

after(() => (pki as TestPki | undefined)?.remove());

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const fn of list) await Promise.resolve(fn()).catch(() => {});
});

async function broker(options: BrokerOptions = {}, requestCert = false): Promise<Broker> {
  const b = await startBroker({
    port: 0,
    tlsPort: 0,
    closeLinger: 100,
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert },
    ...options,
  });
  cleanups.push(() => b.close());
  return b;
}

/** A raw STOMP client over a TLS socket that trusts the test CA. */
function tlsOpen(port: number, options: tls.ConnectionOptions = {}): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.cert, ...options },
      () => {
        const c = RawClient.wrap(socket);
        cleanups.push(() => c.destroy());
        resolve(c);
      },
    );
    socket.once('error', reject);
  });
}

async function tlsConnect(
  port: number,
  options: tls.ConnectionOptions = {},
  headers = '',
): Promise<RawClient> {
  const c = await tlsOpen(port, options);
  c.write(`CONNECT\naccept-version:1.2\nhost:localhost\n${headers}\n\0`);
  await c.expect('CONNECTED');
  c.parser.version = '1.2';
  return c;
}

const ALICE = (): { cert: string; key: string } => ({ cert: pki.alice.cert, key: pki.alice.key });

describe('STOMP over TLS', needs('openssl'), () => {
  test('address() reports the TLS port; a raw TLS client does a round trip', async () => {
    const seen: string[] = [];
    const b = await broker({
      authenticate: (login, _p, conn) => {
        seen.push(`${login}/${conn.transport}`);
        return true;
      },
    });
    const a = b.address();
    assert.equal(typeof a.tlsPort, 'number');
    assert.notEqual(a.tlsPort, a.port);
    const c = await tlsConnect(a.tlsPort!, {}, 'login:bob\n');
    assert.deepEqual(seen, ['bob/tls']);
    const proto = (c.socket as tls.TLSSocket).getProtocol();
    assert.ok(proto === 'TLSv1.3' || proto === 'TLSv1.2', String(proto));
    c.write('SUBSCRIBE\nid:s\ndestination:/queue/tls\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    const body = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    c.write(
      Buffer.concat([
        Buffer.from(`SEND\ndestination:/queue/tls\ncontent-length:${body.length}\n\n`),
        body,
        Buffer.from([0]),
      ]),
    );
    const m = await c.expect('MESSAGE');
    assert.ok(m.body.equals(body));
    // The plain TCP listener is still there.
    const t = await RawClient.connect(a.port);
    t.destroy();
  });

  test('TLS 1.2 is accepted; TLS 1.1 (and older) is refused', async () => {
    const b = await broker();
    const port = b.address().tlsPort!;
    const c = await tlsConnect(port, { maxVersion: 'TLSv1.2' });
    assert.equal((c.socket as tls.TLSSocket).getProtocol(), 'TLSv1.2');
    for (const v of ['TLSv1.1', 'TLSv1'] as const) {
      await assert.rejects(
        tlsOpen(port, { minVersion: v, maxVersion: v, ciphers: 'DEFAULT:@SECLEVEL=0' }),
        (e: Error & { code?: string }) => /protocol version|unsupported protocol/i.test(e.message),
        v,
      );
    }
    assert.equal(b.stats().connections, 1, 'the refused handshakes never became sessions');
  });

  test('a client that does not trust the server certificate fails the handshake', async () => {
    const b = await broker();
    await assert.rejects(tlsOpen(b.address().tlsPort!, { ca: pki.mallory.cert }));
  });

  test('tlsPort: false serves wss only; tlsPort without tls and a bad tls option are refused', async () => {
    const b = await broker({ tlsPort: false, wssPort: 0 });
    const a = b.address();
    assert.equal(a.tlsPort, undefined);
    assert.equal(typeof a.wssPort, 'number');
    await assert.rejects(startBroker({ port: 0, tlsPort: 0 }), /tlsPort needs option tls/);
    await assert.rejects(
      startBroker({ port: 0, tls: { cert: pki.server.cert } as never }),
      /tls\.key/,
    );
    await assert.rejects(
      startBroker({
        port: 0,
        tls: { cert: pki.server.cert, key: pki.server.key, requestCert: 'yes' as never },
      }),
      /tls\.requestCert/,
    );
  });
});

describe('@stomp/stompjs over TLS TCP', needs('openssl'), () => {
  /** @stomp/tcp-wrapper with its socket made by tls.connect (the documented extension point). */
  class TLSWrapper extends TCPWrapper {
    protected override getSocket(port: number, host: string): tls.TLSSocket {
      return tls.connect({ port, host, servername: 'localhost', ca: pki.ca.cert });
    }
  }

  test('connects, subscribes with a receipt, sends text and binary, acknowledges', async () => {
    const b = await broker();
    const port = b.address().tlsPort!;
    const client = new Client({
      webSocketFactory: () => new TLSWrapper('127.0.0.1', port),
      reconnectDelay: 0,
      connectHeaders: { login: 'stompjs' },
    });
    cleanups.push(() => client.deactivate());
    const connected = new Promise<void>((resolve, reject) => {
      client.onConnect = () => resolve();
      client.onStompError = (f) => reject(new Error(f.headers.message));
      client.onWebSocketError = () => reject(new Error('socket error'));
    });
    client.activate();
    await connected;
    assert.equal(client.connectedVersion, '1.2');

    const got: IMessage[] = [];
    let arrived!: () => void;
    const both = new Promise<void>((r) => (arrived = r));
    const subscribed = new Promise<void>((r) => client.watchForReceipt('sub-1', () => r()));
    client.subscribe(
      '/queue/stompjs-tls',
      (m) => {
        got.push(m);
        if (got.length === 2) arrived();
      },
      { ack: 'client-individual', receipt: 'sub-1' },
    );
    await subscribed;
    const binary = new Uint8Array(300).map((_, i) => (i * 31) & 0xff);
    client.publish({ destination: '/queue/stompjs-tls', body: 'hello over TLS' });
    client.publish({
      destination: '/queue/stompjs-tls',
      binaryBody: binary,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await both;
    assert.equal(got[0]!.body, 'hello over TLS');
    assert.deepEqual(Buffer.from(got[1]!.binaryBody), Buffer.from(binary));
    const acked = got.map(
      (m, i) =>
        new Promise<void>((r) => {
          client.watchForReceipt(`ack-${i}`, () => r());
          m.ack({ receipt: `ack-${i}` });
        }),
    );
    await Promise.all(acked);
    await client.deactivate();
    assert.equal(b.queueDepth('/queue/stompjs-tls'), 0, 'acknowledged: nothing returned');
  });
});

describe('client certificates', needs('openssl'), () => {
  test('required: the certificate CN is the login the authenticate hook sees', async () => {
    const seen: Array<[string | undefined, string | undefined, string]> = [];
    const b = await broker(
      {
        authenticate: (login, passcode, conn) => {
          seen.push([login, passcode, conn.transport]);
          return login === 'alice';
        },
      },
      true,
    );
    // The CONNECT header says mallory; the certificate says alice, and wins.
    const c = await tlsConnect(b.address().tlsPort!, ALICE(), 'login:mallory\npasscode:x\n');
    assert.deepEqual(seen, [['alice', 'x', 'tls']]);
    c.write('SEND\ndestination:/queue/cert\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
  });

  test('with a users file: a certificate login needs no passcode; the file still gives it groups', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-cert-users-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'users');
    await setPasscode(file, 'alice', 'secret', ['ops']);
    const db = await UserDatabase.load(file);
    const b = await broker(
      {
        authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: 0 }),
        authorize: rulesAuthorizer(
          [{ groups: ['ops'], destinations: ['/queue/ops.**'], allow: ['read', 'write'] }],
          (login) => db.groups(login),
        ),
      },
      true,
    );
    const c = await tlsConnect(b.address().tlsPort!, ALICE(), '');
    c.write('SEND\ndestination:/queue/ops.x\nreceipt:r\n\n\0');
    assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'r');
    c.write('SEND\ndestination:/queue/other\nreceipt:r2\n\n\0');
    assert.equal((await c.expect('ERROR')).header('code'), 'FORBIDDEN');
  });

  test('required: without a certificate, or with an untrusted one, there is no session', async () => {
    let calls = 0;
    const b = await broker(
      {
        authenticate: () => {
          calls++;
          return true;
        },
      },
      true,
    );
    const port = b.address().tlsPort!;
    for (const options of [{}, { cert: pki.mallory.cert, key: pki.mallory.key }]) {
      await assert.rejects(async () => {
        const c = await tlsOpen(port, options);
        c.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
        await c.expect('CONNECTED');
      });
    }
    assert.equal(calls, 0);
  });

  test('not required: a CONNECT login is used as given', async () => {
    const seen: Array<string | undefined> = [];
    const b = await broker({
      authenticate: (login) => {
        seen.push(login);
        return true;
      },
    });
    await tlsConnect(b.address().tlsPort!, {}, 'login:bob\n');
    assert.deepEqual(seen, ['bob']);
  });
});

describe('STOMP over secure WebSocket (wss)', needs('openssl'), () => {
  test('a wss client connects and does a round trip; hooks see transport wss', async () => {
    const seen: string[] = [];
    const b = await broker({
      wssPort: 0,
      authenticate: (login, _p, conn) => {
        seen.push(`${login}/${conn.transport}`);
        return true;
      },
    });
    const url = `wss://localhost:${b.address().wssPort}/ws`;
    const c = await WsClient.connect(url, '1.2', { login: 'web' }, ['v12.stomp'], {
      ca: pki.ca.cert,
    });
    cleanups.push(() => c.destroy());
    assert.equal(c.ws.protocol, 'v12.stomp');
    assert.deepEqual(seen, ['web/wss']);
    c.send('SUBSCRIBE\nid:s\ndestination:/topic/wss\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    c.send('SEND\ndestination:/topic/wss\n\nsecure\0');
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'secure');
  });

  test('wss with client certificates required: the CN is the login', async () => {
    const seen: Array<string | undefined> = [];
    const b = await broker(
      {
        wssPort: 0,
        authenticate: (login) => {
          seen.push(login);
          return true;
        },
      },
      true,
    );
    const url = `wss://localhost:${b.address().wssPort}/ws`;
    const c = await WsClient.connect(url, '1.2', {}, ['v12.stomp'], {
      ca: pki.ca.cert,
      ...ALICE(),
    });
    cleanups.push(() => c.destroy());
    assert.deepEqual(seen, ['alice']);
    await assert.rejects(WsClient.connect(url, '1.2', {}, ['v12.stomp'], { ca: pki.ca.cert }));
    assert.deepEqual(seen, ['alice']);
  });
});
