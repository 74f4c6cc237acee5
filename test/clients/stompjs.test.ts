/**
 * Interoperability with @stomp/stompjs v7 over plain TCP (@stomp/tcp-wrapper), the way a
 * Node application would use it. Every test runs against a fresh broker on an ephemeral port.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client,
  Versions,
  type IFrame,
  type IMessage,
  type StompConfig,
  type StompHeaders,
} from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';

const HOST = '127.0.0.1';

/** Things to release after each test, newest first. */
let cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const fn of list) await fn().catch(() => {});
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
  const b = await startBroker({ host: HOST, port: 0, closeLinger: 50, ...options });
  cleanups.push(() => b.close());
  return b;
}

/** A stompjs client plus what it observed. `log` holds the raw traffic (stompjs debug). */
interface Conn {
  client: Client;
  connected: IFrame;
  errors: IFrame[];
  log: string[];
  closes: number;
  heartbeatsIn: number;
  /** Date.now() of every chunk received from the broker. */
  activity: number[];
  closedAt?: number;
  /** Resolves at the first websocket close after connecting. */
  closed: Promise<void>;
}

async function connect(b: Broker, config: Partial<StompConfig> = {}): Promise<Conn> {
  const { port } = b.address();
  const log: string[] = [];
  let resolveClosed!: () => void;
  const conn = {
    errors: [] as IFrame[],
    log,
    closes: 0,
    heartbeatsIn: 0,
    activity: [] as number[],
    closed: new Promise<void>((r) => (resolveClosed = r)),
  } as Conn;
  const connected = new Promise<IFrame>((resolve, reject) => {
    conn.client = new Client({
      webSocketFactory: () => new TCPWrapper(HOST, port),
      reconnectDelay: 0,
      logRawCommunication: true,
      debug: (m) => {
        if (m === 'Received data') conn.activity.push(Date.now());
        log.push(m);
      },
      onConnect: (f) => resolve(f),
      onStompError: (f) => {
        conn.errors.push(f);
        reject(new Error(`ERROR ${f.headers.message}`));
      },
      onWebSocketClose: () => {
        conn.closedAt ??= Date.now();
        conn.closes++;
        resolveClosed();
        reject(new Error('socket closed before CONNECTED'));
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

/** Registers a receipt watcher; call before sending the frame that carries `id`. */
function receipt(c: Conn, id: string): Promise<IFrame> {
  return within(new Promise<IFrame>((r) => c.client.watchForReceipt(id, r)), 3000, `RECEIPT ${id}`);
}

/** Collects messages delivered to one subscription. */
class Inbox {
  readonly messages: IMessage[] = [];
  private waiters: Array<() => void> = [];
  readonly push = (m: IMessage): void => {
    this.messages.push(m);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  };
  async next(ms = 3000): Promise<IMessage> {
    while (this.messages.length === 0) {
      await within(new Promise<void>((r) => this.waiters.push(r)), ms, 'a MESSAGE');
    }
    return this.messages.shift()!;
  }
  async quiet(ms: number): Promise<boolean> {
    await delay(ms);
    return this.messages.length === 0;
  }
}

let receiptSeq = 0;

/** SUBSCRIBE with a receipt; resolves once the broker confirmed it. */
async function subscribe(
  c: Conn,
  destination: string,
  headers: StompHeaders = {},
): Promise<{ inbox: Inbox; id: string; unsubscribe: (h?: StompHeaders) => void }> {
  const inbox = new Inbox();
  const r = `sub-receipt-${++receiptSeq}`;
  const got = receipt(c, r);
  const sub = c.client.subscribe(destination, inbox.push, { ...headers, receipt: r });
  const f = await got;
  assert.equal(f.headers['receipt-id'], r);
  return { inbox, id: sub.id, unsubscribe: (h) => sub.unsubscribe(h) };
}

/** SEND with a receipt; resolves when the broker confirmed it. */
async function publish(
  c: Conn,
  destination: string,
  body: string | Uint8Array,
  headers: StompHeaders = {},
): Promise<void> {
  const r = `send-receipt-${++receiptSeq}`;
  const got = receipt(c, r);
  if (typeof body === 'string') {
    c.client.publish({ destination, body, headers: { ...headers, receipt: r } });
  } else {
    c.client.publish({ destination, binaryBody: body, headers: { ...headers, receipt: r } });
  }
  const f = await got;
  assert.equal(f.headers['receipt-id'], r);
}

/** A frame-less round trip: any frame with a receipt, used to order assertions. */
async function sync(c: Conn, destination = '/topic/__sync'): Promise<void> {
  await publish(c, destination, '');
}

describe('stompjs over TCP', () => {
  test('connects with STOMP 1.2 and gets CONNECTED headers', async () => {
    const b = await broker();
    const c = await connect(b);
    assert.equal(c.client.connected, true);
    assert.equal(c.client.connectedVersion, '1.2');
    assert.equal(c.connected.headers.version, '1.2');
    assert.match(c.connected.headers.server ?? '', /^coilmq\/\d+\.\d+\.\d+/);
    assert.ok(c.connected.headers.session, 'session header');
    // stompjs sends heart-beat:10000,10000 by default; the broker answers with its own pair.
    assert.match(c.connected.headers['heart-beat'] ?? '', /^\d+,\d+$/);
    assert.equal(b.stats().connections, 1);
    // stompjs' CONNECT: accept-version 1.2,1.1,1.0 and heart-beat.
    const sent = c.log.find((l) => l.startsWith('>>> CONNECT'));
    assert.ok(sent, 'CONNECT logged');
    assert.match(sent, /accept-version:1\.2,1\.1,1\.0/);
  });

  test('subscribe to a queue with receipt, publish with receipt, receive headers and body', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox, id } = await subscribe(c, '/queue/jsq');
    await publish(c, '/queue/jsq', 'hello queue', {
      'content-type': 'text/plain',
      'x-custom': 'v1',
      'x-escaped': 'a:b\\x\nd',
      // stompjs 7.5's hdrValueUnEscape replaces \c before \\, so the wire form p\\c (an
      // escaped backslash then "c") decodes to "p\:" on the client. Checked on the wire only.
      'x-tricky': 'p\\c',
    });
    const m = await inbox.next();
    assert.equal(m.command, 'MESSAGE');
    assert.equal(m.body, 'hello queue');
    assert.equal(m.headers.destination, '/queue/jsq');
    assert.equal(m.headers.subscription, id);
    assert.ok(m.headers['message-id'], 'message-id');
    assert.equal(m.headers['content-type'], 'text/plain');
    assert.equal(m.headers['x-custom'], 'v1');
    assert.equal(m.headers['x-escaped'], 'a:b\\x\nd', 'header escaping round-trips');
    const wire = c.log.find((l) => l.startsWith('<<< MESSAGE'));
    assert.ok(wire, 'MESSAGE logged raw');
    assert.ok(wire.includes('\nx-escaped:a\\cb\\\\x\\nd\n'), wire);
    assert.ok(wire.includes('\nx-tricky:p\\\\c\n'), 'broker re-escapes the backslash');
    assert.equal(m.headers['content-length'], String(Buffer.byteLength('hello queue')));
    assert.equal(m.headers.receipt, undefined, 'receipt header is not forwarded');
    assert.equal(b.queueDepth('/queue/jsq'), 0);
  });

  test('queue messages sent before subscribing wait for the consumer', async () => {
    const b = await broker();
    const producer = await connect(b);
    for (let i = 1; i <= 3; i++) await publish(producer, '/queue/jswait', `m${i}`);
    assert.equal(b.queueDepth('/queue/jswait'), 3);
    const consumer = await connect(b);
    const { inbox } = await subscribe(consumer, '/queue/jswait');
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await inbox.next()).body);
    assert.deepEqual(bodies, ['m1', 'm2', 'm3']);
    assert.equal(b.queueDepth('/queue/jswait'), 0);
  });

  test('topic: every subscriber gets a copy, late subscribers get nothing old', async () => {
    const b = await broker();
    const a = await connect(b);
    const c2 = await connect(b);
    const s1 = await subscribe(a, '/topic/jst');
    const s2 = await subscribe(c2, '/topic/jst');
    await publish(a, '/topic/jst', 'broadcast', { 'x-n': '1' });
    const [m1, m2] = await Promise.all([s1.inbox.next(), s2.inbox.next()]);
    for (const [m, id] of [
      [m1, s1.id],
      [m2, s2.id],
    ] as const) {
      assert.equal(m.body, 'broadcast');
      assert.equal(m.headers.destination, '/topic/jst');
      assert.equal(m.headers.subscription, id);
      assert.equal(m.headers['x-n'], '1');
    }
    const late = await connect(b);
    const s3 = await subscribe(late, '/topic/jst');
    assert.equal(await s3.inbox.quiet(100), true, 'topics keep no history');
  });

  test('unsubscribe stops delivery', async () => {
    const b = await broker();
    const c = await connect(b);
    const s = await subscribe(c, '/topic/jsunsub');
    await publish(c, '/topic/jsunsub', 'one');
    assert.equal((await s.inbox.next()).body, 'one');
    const r = receipt(c, 'unsub-1');
    s.unsubscribe({ receipt: 'unsub-1' });
    await r;
    await publish(c, '/topic/jsunsub', 'two');
    assert.equal(await s.inbox.quiet(100), true);
  });

  test('binary bodies (binaryBody) with NUL and high bytes arrive intact', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jsbin');
    const payload = new Uint8Array(1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    payload[0] = 0;
    payload[payload.length - 1] = 0;
    await publish(c, '/queue/jsbin', payload, { 'content-type': 'application/octet-stream' });
    const m = await inbox.next();
    assert.equal(m.headers['content-length'], '1024');
    assert.equal(m.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(Buffer.from(m.binaryBody), Buffer.from(payload));
  });

  test('large text body (256 KiB, multi-byte UTF-8) round-trips', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jsbig');
    const body = 'żółw🐢'.repeat((256 * 1024) / 12);
    await publish(c, '/queue/jsbig', body);
    const m = await inbox.next();
    assert.equal(m.body, body);
    assert.equal(m.headers['content-length'], String(Buffer.byteLength(body)));
  });

  test('client-individual: ack removes, nack redelivers, unacked return on disconnect', async () => {
    const b = await broker();
    const p = await connect(b);
    for (const body of ['a', 'b', 'c']) await publish(p, '/queue/jsack', body);

    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jsack', { ack: 'client-individual' });
    const ma = await inbox.next();
    const mb = await inbox.next();
    const mc = await inbox.next();
    assert.deepEqual([ma.body, mb.body, mc.body], ['a', 'b', 'c']);
    for (const m of [ma, mb, mc]) assert.ok(m.headers.ack, '1.2 MESSAGE carries ack');
    assert.equal(ma.headers.redelivered, undefined);

    const acked = receipt(c, 'ack-a');
    ma.ack({ receipt: 'ack-a' });
    await acked;
    const nacked = receipt(c, 'nack-b');
    mb.nack({ receipt: 'nack-b' });
    await nacked;
    const again = await inbox.next();
    assert.equal(again.body, 'b');
    assert.equal(again.headers.redelivered, 'true');
    assert.equal(again.headers['x-delivery-count'], '1');
    assert.notEqual(again.headers.ack, undefined);
    again.ack();
    await sync(c);
    assert.equal(b.queueDepth('/queue/jsack'), 0);

    // c is never acked: disconnecting puts it back, a and b are gone.
    await within(c.client.deactivate(), 3000, 'deactivate');
    assert.equal(b.queueDepth('/queue/jsack'), 1);
    const d = await connect(b);
    const s2 = await subscribe(d, '/queue/jsack', { ack: 'client-individual' });
    const redelivered = await s2.inbox.next();
    assert.equal(redelivered.body, 'c');
    assert.equal(redelivered.headers.redelivered, 'true');
    assert.equal(await s2.inbox.quiet(100), true, 'a and b were acknowledged');
  });

  test('client (cumulative) ack mode', async () => {
    const b = await broker();
    const p = await connect(b);
    for (const body of ['1', '2', '3']) await publish(p, '/queue/jscum', body);
    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jscum', { ack: 'client' });
    await inbox.next();
    const m2 = await inbox.next();
    await inbox.next();
    m2.ack(); // acknowledges 1 and 2
    await sync(c);
    await within(c.client.deactivate(), 3000, 'deactivate');
    assert.equal(b.queueDepth('/queue/jscum'), 1);
    const d = await connect(b);
    const s = await subscribe(d, '/queue/jscum');
    assert.equal((await s.inbox.next()).body, '3');
    assert.equal(await s.inbox.quiet(100), true);
  });

  test('transactions: SEND takes effect at COMMIT, ABORT drops it', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jstx');

    const tx = c.client.begin('tx-commit');
    assert.equal(tx.id, 'tx-commit');
    await publish(c, '/queue/jstx', 'in-tx-1', { transaction: tx.id });
    await publish(c, '/queue/jstx', 'in-tx-2', { transaction: tx.id });
    assert.equal(await inbox.quiet(100), true, 'nothing before COMMIT');
    tx.commit();
    assert.equal((await inbox.next()).body, 'in-tx-1');
    assert.equal((await inbox.next()).body, 'in-tx-2');

    const tx2 = c.client.begin();
    await publish(c, '/queue/jstx', 'aborted', { transaction: tx2.id });
    tx2.abort();
    await sync(c);
    await publish(c, '/queue/jstx', 'after-abort');
    const m = await inbox.next();
    assert.equal(m.body, 'after-abort');
    assert.equal(m.headers.transaction, undefined, 'transaction header is not forwarded');
    assert.equal(c.errors.length, 0);
  });

  test('transactions: ACK inside an aborted transaction leaves the message unacked', async () => {
    const b = await broker();
    const p = await connect(b);
    await publish(p, '/queue/jstxack', 'keep-me');
    await publish(p, '/queue/jstxack', 'ack-me');
    const c = await connect(b);
    const { inbox } = await subscribe(c, '/queue/jstxack', { ack: 'client-individual' });
    const m1 = await inbox.next();
    const m2 = await inbox.next();

    const tx = c.client.begin('tx-a');
    m1.ack({ transaction: tx.id });
    tx.abort();
    const tx2 = c.client.begin('tx-b');
    m2.ack({ transaction: tx2.id });
    tx2.commit();
    await sync(c);
    assert.equal(c.errors.length, 0);

    await within(c.client.deactivate(), 3000, 'deactivate');
    const d = await connect(b);
    const s = await subscribe(d, '/queue/jstxack');
    assert.equal((await s.inbox.next()).body, 'keep-me');
    assert.equal(await s.inbox.quiet(100), true, 'committed ACK removed ack-me');
  });

  test('STOMP 1.1 and 1.0 sessions: ack/nack by message-id', async () => {
    const b = await broker();
    const p = await connect(b);

    const c11 = await connect(b, { stompVersions: new Versions([Versions.V1_1]) });
    assert.equal(c11.client.connectedVersion, '1.1');
    assert.equal(c11.connected.headers.version, '1.1');
    const s11 = await subscribe(c11, '/queue/js11', { ack: 'client-individual' });
    await publish(p, '/queue/js11', 'x');
    const m = await s11.inbox.next();
    m.nack();
    const again = await s11.inbox.next();
    assert.equal(again.body, 'x');
    assert.equal(again.headers.redelivered, 'true');
    again.ack();
    await sync(c11);
    assert.equal(c11.errors.length, 0);

    const c10 = await connect(b, { stompVersions: new Versions([Versions.V1_0]) });
    assert.equal(c10.connected.headers.version, '1.0', 'version:1.0, as RabbitMQ sends it');
    const s10 = await subscribe(c10, '/queue/js10', { ack: 'client' });
    await publish(p, '/queue/js10', 'y');
    const m10 = await s10.inbox.next();
    assert.equal(m10.body, 'y');
    m10.ack();
    await sync(c10);
    assert.equal(c10.errors.length, 0);
    await within(c10.client.deactivate(), 3000, 'deactivate');
    assert.equal(b.queueDepth('/queue/js10'), 0, '1.0 ACK removed the message');
  });

  /**
   * stompjs 100/100 against heartbeatMinInterval 50 (negotiates 100,100 both ways), idle
   * for 1 s. stompjs checks every 100 ms and drops the connection once the server has been
   * silent for more than 100 * heartbeatToleranceMultiplier ms.
   */
  async function heartbeatScenario(tolerance?: number): Promise<{ c: Conn; maxGap: number }> {
    const b = await broker({ heartbeatMinInterval: 50 });
    const c = await connect(b, {
      heartbeatIncoming: 100,
      heartbeatOutgoing: 100,
      ...(tolerance ? { heartbeatToleranceMultiplier: tolerance } : {}),
    });
    assert.equal(c.connected.headers['heart-beat'], '100,100');
    assert.match(c.log.find((l) => l.startsWith('>>> CONNECT')) ?? '', /heart-beat:100,100/);
    const connectedAt = c.activity.at(-1)!;
    const { inbox } = await subscribe(c, '/queue/jshb');
    await delay(1000);
    const times = [...c.activity.filter((t) => t >= connectedAt), c.closedAt ?? Date.now()];
    let maxGap = 0;
    for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i]! - times[i - 1]!);
    assert.equal(c.errors.length, 0);
    assert.equal(c.closes, 0, `stompjs closed the connection; longest server silence ${maxGap} ms`);
    assert.equal(c.client.connected, true, 'still connected after 1 s of idle');
    assert.ok(c.heartbeatsIn >= 5, `server heart-beats received: ${c.heartbeatsIn}`);
    assert.equal(b.stats().connections, 1);
    await publish(c, '/queue/jshb', 'still here');
    assert.equal((await inbox.next()).body, 'still here');
    return { c, maxGap };
  }

  test('heart-beats 100/100 with heartbeatMinInterval 50 keep the connection alive (stompjs defaults)', async () => {
    const { maxGap } = await heartbeatScenario();
    // The server promised something at least every 100 ms; allow 50 ms of timer jitter.
    assert.ok(maxGap <= 150, `longest server silence ${maxGap} ms, promised 100`);
  });

  test('heart-beats 100/100 keep the connection alive with tolerance 3', async () => {
    const { maxGap } = await heartbeatScenario(3);
    assert.ok(maxGap < 300, `longest server silence ${maxGap} ms`);
  });

  test('broker notices a client that stops heart-beating', async () => {
    const b = await broker({ heartbeatMinInterval: 50, heartbeatGrace: 2 });
    // Claims to send every 100 ms, never does (outgoing ticker disabled by a huge interval
    // is not possible, so promise 100 and stop the ticker by faking the socket send).
    const c = await connect(b, { heartbeatIncoming: 0, heartbeatOutgoing: 100 });
    assert.equal(c.connected.headers['heart-beat'], '0,100');
    // Stop the client's outgoing LF pings.
    const ws = (c.client as unknown as { webSocket: { send: (d: unknown) => void } }).webSocket;
    const send = ws.send.bind(ws);
    ws.send = (d: unknown) => {
      if (d !== '\n') send(d);
    };
    await within(c.closed, 3000, 'broker to close the silent connection');
    assert.equal(c.errors[0]?.headers.code, 'HEARTBEAT_TIMEOUT');
  });

  test('clean disconnect: DISCONNECT with receipt, broker drops the session', async () => {
    const b = await broker();
    const c = await connect(b);
    let disconnectFrame: IFrame | undefined;
    c.client.onDisconnect = (f) => (disconnectFrame = f);
    await within(c.client.deactivate(), 3000, 'deactivate');
    assert.equal(disconnectFrame?.command, 'RECEIPT');
    assert.match(disconnectFrame?.headers['receipt-id'] ?? '', /^close-/);
    assert.equal(c.client.connected, false);
    assert.equal(c.errors.length, 0);
    for (let i = 0; i < 50 && b.stats().connections > 0; i++) await delay(10);
    assert.equal(b.stats().connections, 0);
  });

  test('broker shutdown sends ERROR SERVER_SHUTDOWN to a stompjs client', async () => {
    const b = await broker();
    const c = await connect(b);
    await b.close();
    await within(c.closed, 3000, 'socket close');
    assert.equal(c.errors.length, 1);
    assert.equal(c.errors[0]!.headers.code, 'SERVER_SHUTDOWN');
    assert.match(c.errors[0]!.headers.message ?? '', /SERVER_SHUTDOWN/);
  });

  test('broker errors surface through onStompError with receipt-id', async () => {
    const b = await broker();
    const c = await connect(b);
    c.client.publish({
      destination: '/queue/x',
      headers: { transaction: 'no-such-tx', receipt: 'bad-1' },
      body: 'z',
    });
    await within(c.closed, 3000, 'socket close');
    assert.equal(c.errors.length, 1);
    assert.equal(c.errors[0]!.headers.code, 'UNKNOWN_TRANSACTION');
    assert.equal(c.errors[0]!.headers['receipt-id'], 'bad-1');
    assert.equal(b.queueDepth('/queue/x'), 0);
  });
});
