/**
 * STOMP over WebSocket, with a bare `ws` client: subprotocol negotiation (1.P-13), frames
 * split across messages and several frames in one message (1.P-1), heart-beats both ways,
 * binary bodies, the frame size limit (1.P-12, L-01), Origins, flow control, shutdown.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { WsClient } from '../helpers/ws-client.js';

let cleanups: Array<() => unknown> = [];

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const fn of list) await Promise.resolve(fn()).catch(() => {});
});

async function broker(options: BrokerOptions = {}): Promise<Broker> {
  const b = await startBroker({ port: 0, wsPort: 0, closeLinger: 100, ...options });
  cleanups.push(() => b.close());
  return b;
}

function url(b: Broker, path = '/ws'): string {
  return `ws://127.0.0.1:${b.address().wsPort}${path}`;
}

async function open(b: Broker, protocols?: string[]): Promise<WsClient> {
  const c = await WsClient.open(url(b), protocols);
  cleanups.push(() => c.destroy());
  return c;
}

async function connect(
  b: Broker,
  version: '1.0' | '1.1' | '1.2' = '1.2',
  headers: Record<string, string> = {},
): Promise<WsClient> {
  const c = await WsClient.connect(url(b), version, headers);
  cleanups.push(() => c.destroy());
  return c;
}

/** The handshake's answer, without validating it as a client would. */
function handshake(
  b: Broker,
  protocols: string[],
): Promise<{ status: number; protocol: string | undefined }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ');
    const req = http.request({
      host: '127.0.0.1',
      port: b.address().wsPort,
      path: '/ws',
      headers,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      const p = res.headers['sec-websocket-protocol'];
      resolve({ status: res.statusCode ?? 0, protocol: typeof p === 'string' ? p : undefined });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, protocol: undefined });
    });
    req.on('error', reject);
    req.end();
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WebSocket listener', () => {
  test('address() reports the WebSocket port; no wsPort means no WebSocket listener', async () => {
    const b = await broker();
    const a = b.address();
    assert.equal(typeof a.wsPort, 'number');
    assert.notEqual(a.wsPort, a.port);
    const plain = await startBroker({ port: 0 });
    cleanups.push(() => plain.close());
    assert.equal(plain.address().wsPort, undefined);
  });

  test('plain HTTP on the path is 426 Upgrade Required; another path is 404, and no upgrade', async () => {
    const b = await broker();
    const get = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: b.address().wsPort, path }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
    assert.equal(await get('/ws'), 426);
    assert.equal(await get('/other'), 404);
    await assert.rejects(WsClient.open(url(b, '/other')));
    // A query string does not change the path.
    const c = await WsClient.open(url(b, '/ws?x=1'));
    c.destroy();
  });

  test('wsPath moves the endpoint', async () => {
    const b = await broker({ wsPath: '/stomp' });
    await assert.rejects(WsClient.open(url(b, '/ws')));
    const c = await WsClient.connect(url(b, '/stomp'));
    cleanups.push(() => c.destroy());
  });
});

describe('subprotocol negotiation (1.P-13)', () => {
  const cases: Array<[offered: string[], answer: string | undefined]> = [
    [['v10.stomp', 'v11.stomp', 'v12.stomp'], 'v12.stomp'],
    [['v12.stomp', 'v11.stomp', 'v10.stomp'], 'v12.stomp'],
    [['v11.stomp', 'v10.stomp'], 'v11.stomp'],
    [['v10.stomp'], 'v10.stomp'],
    [['mqtt', 'v11.stomp'], 'v11.stomp'],
    [['stomp'], undefined],
    [['mqtt'], undefined],
    [[], undefined],
  ];
  for (const [offered, answer] of cases) {
    test(`offered [${offered.join(', ')}] -> ${answer ?? 'no subprotocol'}`, async () => {
      const b = await broker();
      const r = await handshake(b, offered);
      assert.equal(r.status, 101);
      assert.equal(r.protocol, answer);
      // Never one the client did not offer.
      if (r.protocol !== undefined) assert.ok(offered.includes(r.protocol));
    });
  }

  test('a client offering only v10.stomp gets it, and a 1.0 session from CONNECT', async () => {
    const b = await broker();
    const c = await open(b, ['v10.stomp']);
    assert.equal(c.ws.protocol, 'v10.stomp');
    c.send('CONNECT\nlogin:guest\n\n\0');
    const f = await c.expect('CONNECTED');
    assert.equal(f.header('version'), '1.0', 'version:1.0, as RabbitMQ sends it');
    assert.ok(f.header('session'));
  });

  test('a client offering no subprotocol negotiates through CONNECT', async () => {
    const b = await broker();
    const c = await open(b, []);
    assert.equal(c.ws.protocol, '');
    c.send('CONNECT\naccept-version:1.1,1.2\nhost:localhost\n\n\0');
    assert.equal((await c.expect('CONNECTED')).header('version'), '1.2');
  });

  test('the ws client refuses a server that answers none of its offers; STOMP offers still work', async () => {
    const b = await broker();
    await assert.rejects(WsClient.open(url(b), ['mqtt']), /no subprotocol/i);
    const c = await open(b, ['mqtt', 'v12.stomp']);
    assert.equal(c.ws.protocol, 'v12.stomp');
  });
});

describe('framing over WebSocket messages (1.P-1)', () => {
  test('a frame split across several WebSocket messages', async () => {
    const b = await broker();
    const c = await open(b, ['v12.stomp']);
    // CONNECT in three messages, cut inside a header name and before the NUL.
    c.send('CONNECT\naccept-ver');
    c.send('sion:1.2\nhost:local');
    c.send('host\n\n');
    assert.equal(await c.quiet(50), true);
    c.send('\0');
    assert.equal((await c.expect('CONNECTED')).header('version'), '1.2');
    c.parser.version = '1.2';

    c.send('SUBSCRIBE\nid:s\ndestination:/queue/split\nreceipt:r1\n\n\0');
    await c.expect('RECEIPT');
    // A SEND byte by byte, one message per byte.
    const send = 'SEND\ndestination:/queue/split\ncontent-type:text/plain\n\nhello in pieces\0';
    for (const ch of send) c.send(ch);
    const m = await c.expect('MESSAGE');
    assert.equal(m.body.toString(), 'hello in pieces');
  });

  test('several frames in one WebSocket message', async () => {
    const b = await broker();
    const c = await connect(b);
    c.send(
      'SUBSCRIBE\nid:s\ndestination:/queue/batch\nreceipt:r1\n\n\0' +
        'SEND\ndestination:/queue/batch\nreceipt:r2\n\none\0\n' +
        'SEND\ndestination:/queue/batch\nreceipt:r3\n\ntwo\0\n\n' +
        'SEND\ndestination:/queue/batch\n\nthree\0',
    );
    const got: string[] = [];
    while (got.length < 6) {
      const f = await c.next();
      got.push(f.command === 'RECEIPT' ? f.header('receipt-id')! : f.body.toString());
    }
    assert.equal(got[0], 'r1', 'SUBSCRIBE receipt first');
    assert.deepEqual(
      got.filter((x) => !x.startsWith('r')),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(
      got.filter((x) => x.startsWith('r')),
      ['r1', 'r2', 'r3'],
    );
  });

  test('a frame whose end shares a message with the start of the next', async () => {
    const b = await broker();
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/topic/t\nreceipt:r1\n\n\0SEND\ndestina');
    await c.expect('RECEIPT');
    c.send('tion:/topic/t\n\nx\0SEND\ndestination:/topic/t\n\ny');
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'x');
    c.send('\0');
    assert.equal((await c.expect('MESSAGE')).body.toString(), 'y');
  });

  test('every frame the broker sends is one WebSocket message', async () => {
    const b = await broker();
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/queue/one\nreceipt:r1\n\n\0');
    await c.expect('RECEIPT');
    c.send('SEND\ndestination:/queue/one\n\na\0SEND\ndestination:/queue/one\n\nb\0');
    await c.expect('MESSAGE');
    await c.expect('MESSAGE');
    // CONNECTED, RECEIPT, MESSAGE, MESSAGE: four messages, each one whole frame.
    assert.equal(c.messages.length, 4);
    for (const m of c.messages) {
      assert.equal(m.data.indexOf(0), m.data.length - 1, 'one NUL, at the end');
      assert.equal(m.binary, false, 'UTF-8 frames go as text');
    }
  });
});

describe('bodies over WebSocket', () => {
  test('a binary body is preserved byte for byte, and arrives as a binary message', async () => {
    const b = await broker();
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/queue/bin\nreceipt:r1\n\n\0');
    await c.expect('RECEIPT');
    const body = Buffer.alloc(1024 + 256);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
    body[10] = 0; // NULs inside the body
    body[11] = 0;
    const head = Buffer.from(
      `SEND\ndestination:/queue/bin\ncontent-type:application/octet-stream\ncontent-length:${body.length}\n\n`,
    );
    c.send(Buffer.concat([head, body, Buffer.from([0])]));
    const m = await c.expect('MESSAGE');
    assert.equal(m.header('content-length'), String(body.length));
    assert.ok(m.body.equals(body), 'body byte-exact');
    assert.equal(c.messages.at(-1)!.binary, true, 'not valid UTF-8: a binary message');
  });

  test('UTF-8 text in a binary message and in a text message', async () => {
    const b = await broker();
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/queue/utf\nreceipt:r1\n\n\0');
    await c.expect('RECEIPT');
    const text = 'héllo wörld ✓ 𝄞';
    c.send(Buffer.from(`SEND\ndestination:/queue/utf\n\n${text}\0`), true);
    c.send(`SEND\ndestination:/queue/utf\n\n${text}\0`, false);
    for (let i = 0; i < 2; i++) {
      assert.equal((await c.expect('MESSAGE')).body.toString('utf8'), text);
      assert.equal(c.messages.at(-1)!.binary, false);
    }
  });
});

describe('heart-beats over WebSocket', () => {
  test('the server sends each heart-beat as a WebSocket message holding one EOL', async () => {
    const b = await broker({ heartbeatMinInterval: 50 });
    const c = await connect(b, '1.2', { 'heart-beat': '0,100' });
    await delay(550);
    assert.ok(c.heartbeats >= 4, `${c.heartbeats} heart-beats in 550 ms`);
    const beats = c.messages.slice(1);
    assert.ok(beats.length >= 4);
    for (const m of beats) {
      assert.equal(m.data.toString(), '\n');
      assert.equal(m.binary, false);
    }
  });

  test('a message that is only an EOL is a heart-beat: it keeps the session alive', async () => {
    const b = await broker({ heartbeatMinInterval: 50 });
    const c = await connect(b, '1.2', { 'heart-beat': '100,0' });
    // The broker expects data every 100 ms (150 ms with grace): send "\n" and "\r\n".
    for (let i = 0; i < 8; i++) {
      c.send(i % 2 === 0 ? '\n' : '\r\n');
      await delay(60);
    }
    assert.equal(c.ended, false, 'still open after 480 ms of heart-beats only');
    assert.equal(c.frames.length, 0, 'heart-beats produce no frames');
    c.send('SEND\ndestination:/queue/hb\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    // Then silence: the broker gives up.
    const err = await c.expect('ERROR', 2000);
    assert.equal(err.header('code'), 'HEARTBEAT_TIMEOUT');
    await c.waitClosed();
  });
});

describe('frame size limit over WebSocket (1.P-12, L-01)', () => {
  const maxFrameSize = 1024;

  test('a WebSocket message far over maxFrameSize: ERROR FRAME_TOO_LARGE, then close 1009', async () => {
    const b = await broker({ maxFrameSize });
    const c = await connect(b);
    c.send(`SEND\ndestination:/queue/big\n\n${'x'.repeat(64 * 1024)}\0`);
    const err = await c.expect('ERROR');
    assert.equal(err.header('code'), 'FRAME_TOO_LARGE');
    assert.match(err.header('message')!, /\(FRAME_TOO_LARGE\)$/);
    await c.waitClosed();
    assert.equal(c.closeCode, 1009);
    assert.equal(b.stats().errors.FRAME_TOO_LARGE, 1);
    assert.equal(b.queueDepth('/queue/big'), 0);
  });

  test('the same before CONNECT', async () => {
    const b = await broker({ maxFrameSize });
    const c = await open(b, ['v12.stomp']);
    c.send(Buffer.alloc(64 * 1024, 0x41));
    assert.equal((await c.expect('ERROR')).header('code'), 'FRAME_TOO_LARGE');
    await c.waitClosed();
    assert.equal(c.closeCode, 1009);
  });

  test('a message just over maxFrameSize is refused by the STOMP parser: ERROR, then close', async () => {
    const b = await broker({ maxFrameSize });
    const c = await connect(b);
    c.send(`SEND\ndestination:/queue/big\n\n${'x'.repeat(maxFrameSize + 10)}\0`);
    assert.equal((await c.expect('ERROR')).header('code'), 'FRAME_TOO_LARGE');
    await c.waitClosed();
    assert.equal(c.closeCode, 1000);
  });

  test('an oversized frame split across small messages is refused too', async () => {
    const b = await broker({ maxFrameSize });
    const c = await connect(b);
    c.send('SEND\ndestination:/queue/big\n\n');
    for (let i = 0; i < 20 && !c.ended; i++) c.send('y'.repeat(100));
    assert.equal((await c.expect('ERROR')).header('code'), 'FRAME_TOO_LARGE');
    await c.waitClosed();
  });

  test('a frame of exactly maxFrameSize in one message is accepted', async () => {
    const b = await broker({ maxFrameSize });
    const c = await connect(b);
    const head = 'SEND\ndestination:/queue/fit\nreceipt:r\n\n';
    c.send(head + 'z'.repeat(maxFrameSize - head.length) + '\0\n');
    await c.expect('RECEIPT');
    assert.equal(b.queueDepth('/queue/fit'), 1);
  });
});

describe('Origin restriction', () => {
  test('allowedOrigins: a listed Origin connects, another gets 403, none is let in', async () => {
    const b = await broker({ allowedOrigins: ['https://app.example', 'http://localhost:8080/'] });
    const ok = await WsClient.connect(url(b), '1.2', {}, ['v12.stomp'], {
      origin: 'https://app.example',
    });
    ok.destroy();
    const ok2 = await WsClient.open(url(b), ['v12.stomp'], { origin: 'HTTP://LOCALHOST:8080' });
    ok2.destroy();
    await assert.rejects(
      WsClient.open(url(b), ['v12.stomp'], { origin: 'https://evil.example' }),
      (e: { statusCode?: number }) => e.statusCode === 403,
    );
    // Non-browser clients send no Origin.
    const none = await WsClient.connect(url(b));
    none.destroy();
  });

  test('without allowedOrigins every Origin is accepted', async () => {
    const b = await broker();
    const c = await WsClient.open(url(b), [], { origin: 'https://anything.example' });
    c.destroy();
  });
});

describe('same session as TCP', () => {
  test('a WebSocket producer and a TCP consumer, and back; hooks see transport ws', async () => {
    const seen: string[] = [];
    const b = await broker({
      authenticate: (login, _p, conn) => {
        seen.push(`${login}/${conn.transport}`);
        return true;
      },
    });
    const w = await connect(b, '1.2', { login: 'web' });
    const t = await RawClient.connect(b.address().port, '1.2', { login: 'tcp' });
    cleanups.push(() => t.destroy());
    assert.deepEqual(seen, ['web/ws', 'tcp/tcp']);
    t.write('SUBSCRIBE\nid:s\ndestination:/queue/mix\nreceipt:r\n\n\0');
    await t.expect('RECEIPT');
    w.send('SUBSCRIBE\nid:s\ndestination:/topic/back\nreceipt:r\n\n\0');
    await w.expect('RECEIPT');
    w.send('SEND\ndestination:/queue/mix\n\nfrom ws\0');
    assert.equal((await t.expect('MESSAGE')).body.toString(), 'from ws');
    t.write('SEND\ndestination:/topic/back\n\nfrom tcp\0');
    assert.equal((await w.expect('MESSAGE')).body.toString(), 'from tcp');
  });

  test('maxConnections counts WebSockets: one too many gets ERROR TOO_MANY_CONNECTIONS', async () => {
    const b = await broker({ maxConnections: 1 });
    await connect(b);
    const c = await open(b, ['v12.stomp']);
    assert.equal((await c.expect('ERROR')).header('code'), 'TOO_MANY_CONNECTIONS');
    await c.waitClosed();
  });

  test('DISCONNECT over WebSocket: RECEIPT, then a normal close at once', async () => {
    const b = await broker({ closeLinger: 5000 });
    const c = await connect(b);
    c.send('DISCONNECT\nreceipt:bye\n\n\0');
    assert.equal((await c.expect('RECEIPT')).header('receipt-id'), 'bye');
    const t0 = Date.now();
    await c.waitClosed();
    assert.equal(c.closeCode, 1000);
    assert.ok(Date.now() - t0 < 1000, 'the close handshake completes, no linger');
    for (let i = 0; i < 50 && b.stats().connections > 0; i++) await delay(10);
    assert.equal(b.stats().connections, 0);
  });

  test('a WebSocket that does not read holds back its queue, then drains (flow control)', async () => {
    const b = await broker({ highWaterMark: 256 * 1024 });
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/queue/flow\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    c.ws.pause(); // stop reading: the broker's socket fills up
    const p = await RawClient.connect(b.address().port);
    cleanups.push(() => p.destroy());
    const body = 'm'.repeat(64 * 1024);
    const n = 400; // 25 MiB, more than loopback buffers hold
    for (let i = 0; i < n; i++) p.write(`SEND\ndestination:/queue/flow\n\n${body}\0`);
    p.write('SEND\ndestination:/queue/flow\nreceipt:done\n\n\0');
    await p.expect('RECEIPT', 10000);
    await delay(100);
    const held = b.queueDepth('/queue/flow');
    assert.ok(held > 0, 'the broker kept messages back instead of buffering them all');
    c.ws.resume();
    for (let i = 0; i <= n; i++) await c.expect('MESSAGE', 10000);
    assert.equal(b.queueDepth('/queue/flow'), 0);
  });

  test('a topic subscriber over WebSocket that does not read is a slow consumer', async () => {
    const b = await broker({ highWaterMark: 64 * 1024, slowConsumerMaxBytes: 512 * 1024 });
    const c = await connect(b);
    c.send('SUBSCRIBE\nid:s\ndestination:/topic/slow\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    c.ws.pause();
    const p = await RawClient.connect(b.address().port);
    cleanups.push(() => p.destroy());
    const body = 's'.repeat(64 * 1024);
    for (let i = 0; i < 400; i++) p.write(`SEND\ndestination:/topic/slow\n\n${body}\0`);
    p.write('SEND\ndestination:/topic/slow\nreceipt:done\n\n\0');
    await p.expect('RECEIPT', 10000);
    assert.equal(b.stats().errors.SLOW_CONSUMER, 1);
    c.ws.resume();
    await c.waitClosed(10000);
  });

  test('close(): every WebSocket client gets ERROR SERVER_SHUTDOWN, then the close', async () => {
    const b = await startBroker({ port: 0, wsPort: 0, closeLinger: 100 });
    const c1 = await WsClient.connect(url(b));
    const c2 = await WsClient.open(url(b), []);
    const where = url(b);
    const t0 = Date.now();
    await b.close();
    assert.ok(Date.now() - t0 < 2000);
    for (const c of [c1, c2]) {
      assert.equal((await c.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
      await c.waitClosed();
    }
    await assert.rejects(WsClient.open(where), /ECONNREFUSED/);
  });

  test('close() does not wait for HTTP requests that never became WebSockets', async () => {
    const b = await startBroker({ port: 0, wsPort: 0, closeLinger: 100 });
    const c = await WsClient.connect(url(b));
    // A request whose headers never end, and an idle keep-alive connection.
    const slow = await RawClient.open(b.address().wsPort!);
    slow.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
    const idle = await RawClient.open(b.address().wsPort!);
    idle.write('GET /ws HTTP/1.1\r\nHost: x\r\n\r\n');
    await delay(50);
    const t0 = Date.now();
    await b.close();
    assert.ok(Date.now() - t0 < 1000, `close() took ${Date.now() - t0} ms`);
    assert.equal((await c.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
    await slow.waitClosed();
    await idle.waitClosed();
  });

  test('listen() fails cleanly when the WebSocket port is taken, closing the TCP listener', async () => {
    const b = await broker();
    const taken = b.address().wsPort!;
    const listening: Array<{ port: number; transport: string }> = [];
    const noop = (): void => {};
    const logger = {
      debug: noop,
      warn: noop,
      error: noop,
      info: (o: object, msg?: string) => {
        if (msg === 'listening') listening.push(o as { port: number; transport: string });
      },
    };
    await assert.rejects(startBroker({ port: 0, wsPort: taken, logger }), /EADDRINUSE/);
    assert.deepEqual(
      listening.map((l) => l.transport),
      ['tcp'],
    );
    await assert.rejects(RawClient.open(listening[0]!.port), /ECONNREFUSED/);
  });
});

describe('WebSocket options are checked', () => {
  for (const [opts, re] of [
    [{ wsPort: -1 }, /wsPort/],
    [{ wsPort: 70000 }, /wsPort/],
    [{ wsPort: '80' }, /wsPort/],
    [{ wsPath: 'ws' }, /wsPath/],
    [{ allowedOrigins: 'https://a' }, /allowedOrigins/],
    [{ wssPort: 0 }, /wssPort needs option tls/],
    [{ tlsPort: 0 }, /tlsPort needs option tls/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    test(`${JSON.stringify(opts)} is refused`, async () => {
      await assert.rejects(startBroker({ port: 0, ...(opts as BrokerOptions) }), re);
    });
  }
});
