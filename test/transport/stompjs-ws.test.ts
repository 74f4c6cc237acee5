/**
 * @stomp/stompjs v7 over WebSocket from Node, with the `ws` package as its WebSocket: the
 * way stompjs documents Node use (brokerURL, with `ws` as the global WebSocket), and with
 * a webSocketFactory. Subprotocols, acknowledgement, binary and 1 MiB bodies, frames split
 * across WebSocket messages by stompjs itself, heart-beats, the frame size limit, shutdown.
 */
import { test, describe, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Versions, type IFrame, type IMessage, type StompConfig } from '@stomp/stompjs';
import { WebSocket } from 'ws';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';

let cleanups: Array<() => unknown> = [];

before(() => {
  // stompjs' documented Node setup: a WebSocket implementation as the global.
  Object.assign(globalThis, { WebSocket });
});

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const fn of list) await Promise.resolve(fn()).catch(() => {});
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function broker(options: BrokerOptions = {}): Promise<Broker> {
  const b = await startBroker({ port: 0, wsPort: 0, closeLinger: 100, ...options });
  cleanups.push(() => b.close());
  return b;
}

const brokerURL = (b: Broker): string => `ws://127.0.0.1:${b.address().wsPort}/ws`;

interface Conn {
  client: Client;
  connected: IFrame;
  errors: IFrame[];
  closeCodes: number[];
  heartbeatsIn: number;
  closed: Promise<void>;
}

async function connect(b: Broker, config: Partial<StompConfig> = {}): Promise<Conn> {
  let resolveClosed!: () => void;
  const conn = {
    errors: [] as IFrame[],
    closeCodes: [] as number[],
    heartbeatsIn: 0,
    closed: new Promise<void>((r) => (resolveClosed = r)),
  } as Conn;
  const connected = new Promise<IFrame>((resolve, reject) => {
    conn.client = new Client({
      brokerURL: brokerURL(b),
      reconnectDelay: 0,
      onConnect: (f) => resolve(f),
      onStompError: (f) => {
        conn.errors.push(f);
        reject(new Error(`ERROR ${f.headers.message}`));
      },
      onWebSocketClose: (e: { code: number }) => {
        conn.closeCodes.push(e.code);
        resolveClosed();
        reject(new Error('closed before CONNECTED'));
      },
      onHeartbeatReceived: () => conn.heartbeatsIn++,
      ...config,
    });
  });
  conn.client.activate();
  cleanups.push(() => within(conn.client.deactivate({ force: true }), 2000, 'deactivate'));
  conn.connected = await within(connected, 3000, 'CONNECTED');
  return conn;
}

function receipt(c: Conn, id: string): Promise<IFrame> {
  return within(new Promise<IFrame>((r) => c.client.watchForReceipt(id, r)), 5000, `RECEIPT ${id}`);
}

class Inbox {
  readonly messages: IMessage[] = [];
  private waiters: Array<() => void> = [];
  readonly push = (m: IMessage): void => {
    this.messages.push(m);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  };
  async next(ms = 5000): Promise<IMessage> {
    while (this.messages.length === 0) {
      await within(new Promise<void>((r) => this.waiters.push(r)), ms, 'a MESSAGE');
    }
    return this.messages.shift()!;
  }
}

describe('stompjs over WebSocket (Node, ws)', () => {
  test('brokerURL as documented: STOMP 1.2 over subprotocol v12.stomp', async () => {
    const b = await broker();
    const c = await connect(b);
    assert.equal(c.client.connectedVersion, '1.2');
    assert.equal(c.connected.headers.version, '1.2');
    assert.equal((c.client.webSocket as unknown as WebSocket).protocol, 'v12.stomp');
    assert.equal(b.stats().connections, 1);
  });

  for (const [version, protocol] of [
    ['1.1', 'v11.stomp'],
    ['1.0', 'v10.stomp'],
  ] as const) {
    test(`stompVersions [${version}]: offers ${protocol} only, gets it and a ${version} session`, async () => {
      const b = await broker();
      const c = await connect(b, { stompVersions: new Versions([version]) });
      assert.equal((c.client.webSocket as unknown as WebSocket).protocol, protocol);
      // A 1.0 CONNECTED has no version header, so stompjs reports none.
      assert.equal(c.client.connectedVersion, version);
      assert.equal(c.connected.headers.session !== undefined, true);
    });
  }

  test('webSocketFactory with the ws package, no subprotocol offered', async () => {
    const b = await broker();
    const c = await connect(b, { webSocketFactory: () => new WebSocket(brokerURL(b)) });
    assert.equal((c.client.webSocket as unknown as WebSocket).protocol, '');
    assert.equal(c.client.connectedVersion, '1.2');
  });

  test('subscribe with a receipt, send text, binary and 1 MiB, receive, ack each (client-individual)', async () => {
    const b = await broker();
    const c = await connect(b);
    const inbox = new Inbox();
    const subscribed = receipt(c, 'sub');
    c.client.subscribe('/queue/node-ws', inbox.push, { ack: 'client-individual', receipt: 'sub' });
    await subscribed;

    const binary = new Uint8Array(512);
    for (let i = 0; i < binary.length; i++) binary[i] = (255 - i) & 0xff;
    binary[5] = 0;
    const big = 'x'.repeat(1024 * 1024 - 7) + 'é✓end'; // 1 MiB + a few bytes, multi-byte at the end
    c.client.publish({ destination: '/queue/node-ws', body: 'hello websocket' });
    c.client.publish({
      destination: '/queue/node-ws',
      binaryBody: binary,
      headers: { 'content-type': 'application/octet-stream' },
    });
    c.client.publish({ destination: '/queue/node-ws', body: big });

    const m1 = await inbox.next();
    const m2 = await inbox.next();
    const m3 = await inbox.next();
    assert.equal(m1.body, 'hello websocket');
    assert.equal(m2.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(Buffer.from(m2.binaryBody), Buffer.from(binary));
    assert.equal(m3.body.length, big.length);
    assert.equal(m3.body, big);
    assert.ok(m1.headers.ack && m2.headers.ack && m3.headers.ack);

    await Promise.all(
      [m1, m2, m3].map((m, i) => {
        const r = receipt(c, `ack-${i}`);
        m.ack({ receipt: `ack-${i}` });
        return r;
      }),
    );
    assert.equal(c.errors.length, 0);
    await c.client.deactivate();
    await delay(50);
    assert.equal(b.queueDepth('/queue/node-ws'), 0, 'every message acknowledged');
  });

  test('stompjs splitLargeFrames: a frame in many WebSocket messages arrives whole', async () => {
    const b = await broker();
    const c = await connect(b, { splitLargeFrames: true, maxWebSocketChunkSize: 1000 });
    const inbox = new Inbox();
    const subscribed = receipt(c, 'sub');
    c.client.subscribe('/topic/split', inbox.push, { receipt: 'sub' });
    await subscribed;
    const body = Array.from({ length: 5000 }, (_, i) => String(i)).join(',');
    c.client.publish({ destination: '/topic/split', body });
    assert.equal((await inbox.next()).body, body);
  });

  test('heart-beats both ways at 100 ms keep the connection alive', async () => {
    const b = await broker({ heartbeatMinInterval: 50 });
    const c = await connect(b, { heartbeatIncoming: 100, heartbeatOutgoing: 100 });
    assert.equal(c.connected.headers['heart-beat'], '100,100');
    await delay(1000);
    assert.equal(c.client.connected, true);
    assert.equal(c.closeCodes.length, 0);
    assert.ok(c.heartbeatsIn >= 5, `${c.heartbeatsIn} heart-beats received`);
    assert.equal(b.stats().errors.HEARTBEAT_TIMEOUT, undefined);
  });

  test('an oversized frame: stompjs gets ERROR FRAME_TOO_LARGE, then close 1009', async () => {
    const b = await broker({ maxFrameSize: 64 * 1024 });
    const c = await connect(b);
    const error = new Promise<IFrame>((r) => (c.client.onStompError = r));
    c.client.publish({ destination: '/queue/big', body: 'b'.repeat(256 * 1024) });
    const e = await within(error, 3000, 'ERROR');
    assert.equal(e.headers.code, 'FRAME_TOO_LARGE');
    await within(c.closed, 3000, 'close');
    assert.deepEqual(c.closeCodes, [1009]);
  });

  test('broker shutdown: stompjs gets ERROR SERVER_SHUTDOWN', async () => {
    const b = await startBroker({ port: 0, wsPort: 0, closeLinger: 100 });
    const c = await connect(b);
    const error = new Promise<IFrame>((r) => (c.client.onStompError = r));
    await b.close();
    assert.equal((await within(error, 3000, 'ERROR')).headers.code, 'SERVER_SHUTDOWN');
    await within(c.closed, 3000, 'close');
  });
});
