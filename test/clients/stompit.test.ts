/**
 * Interoperability with stompit 1.0 (a stream-oriented Node STOMP client). Every test runs
 * against a fresh broker on an ephemeral port.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';

/** The part of stompit's (untyped, CommonJS) API these tests use. */
type Headers = Record<string, string | number>;
interface StompitMessage extends Readable {
  headers: Record<string, string>;
  readString(encoding: string, cb: (err: Error | null, body?: string) => void): void;
}
interface StompitFrame extends Writable {
  headers: Headers;
}
interface StompitSubscription {
  getId(): string | number;
  unsubscribe(headers?: Headers): void;
}
interface StompitTransaction {
  id: string | number;
  send(headers: Headers, options?: { onReceipt?: () => void }): StompitFrame;
  commit(options?: { onReceipt?: () => void }): void;
  abort(options?: { onReceipt?: () => void }): void;
}
interface StompitClient {
  headers: Record<string, string>;
  on(event: 'error', fn: (err: Error & { longMessage?: string }) => void): void;
  on(event: 'end', fn: () => void): void;
  send(headers: Headers, options?: { onReceipt?: () => void }): StompitFrame;
  sendFrame(command: string, headers: Headers, options?: { onReceipt?: () => void }): StompitFrame;
  subscribe(
    headers: Headers,
    listener: (err: Error | null, message: StompitMessage) => void,
  ): StompitSubscription;
  ack(message: StompitMessage, headers?: Headers): void;
  nack(message: StompitMessage, headers?: Headers): void;
  begin(headers?: Headers | string): StompitTransaction;
  disconnect(cb?: (err: Error | null) => void): void;
  destroy(err?: Error): void;
}
interface Stompit {
  connect(
    options: { host: string; port: number; connectHeaders?: Headers },
    cb: (err: (Error & { longMessage?: string }) | null, client: StompitClient) => void,
  ): StompitClient;
}

const stompit = createRequire(import.meta.url)('stompit') as Stompit;

const HOST = '127.0.0.1';

let cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const fn of list) {
    try {
      await fn();
    } catch {
      // best effort
    }
  }
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

interface Conn {
  client: StompitClient;
  errors: Array<Error & { longMessage?: string }>;
  /** Resolves when the client is done (end or error). */
  done: Promise<void>;
}

async function connect(b: Broker, connectHeaders: Headers = {}): Promise<Conn> {
  const errors: Conn['errors'] = [];
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const client = await within(
    new Promise<StompitClient>((resolve, reject) => {
      const c = stompit.connect(
        { host: HOST, port: b.address().port, connectHeaders: { host: '/', ...connectHeaders } },
        (err, cl) => (err ? reject(err) : resolve(cl)),
      );
      c.on('error', (err) => {
        errors.push(err);
        finish();
      });
      c.on('end', () => finish());
      cleanups.push(() => c.destroy());
    }),
    3000,
    'stompit connect',
  );
  return { client, errors, done };
}

/** Sends a message and resolves at its RECEIPT. */
function send(c: Conn, headers: Headers, body: string | Buffer): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const frame = c.client.send(headers, { onReceipt: resolve });
      frame.write(body);
      frame.end();
    }),
    3000,
    `RECEIPT for SEND to ${headers.destination}`,
  );
}

/** Any frame with a receipt: once it arrives, every earlier frame was processed. */
function barrier(c: Conn): Promise<void> {
  return send(c, { destination: '/topic/__barrier' }, '');
}

interface Received {
  message: StompitMessage;
  body: string;
}

class Inbox {
  readonly items: Received[] = [];
  readonly errors: Error[] = [];
  private waiters: Array<() => void> = [];
  readonly listener = (err: Error | null, message: StompitMessage): void => {
    if (err) {
      this.errors.push(err);
      return;
    }
    message.readString('utf-8', (e, body) => {
      if (e) this.errors.push(e);
      else this.items.push({ message, body: body ?? '' });
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  };
  async next(ms = 3000): Promise<Received> {
    while (this.items.length === 0) {
      await within(new Promise<void>((r) => this.waiters.push(r)), ms, 'a MESSAGE');
    }
    return this.items.shift()!;
  }
  async quiet(ms: number): Promise<boolean> {
    await delay(ms);
    return this.items.length === 0;
  }
}

/** Subscribes; resolves once the broker has processed the SUBSCRIBE (receipt barrier). */
async function subscribe(
  c: Conn,
  headers: Headers,
): Promise<{ inbox: Inbox; sub: StompitSubscription }> {
  const inbox = new Inbox();
  const sub = c.client.subscribe(headers, inbox.listener);
  await barrier(c);
  return { inbox, sub };
}

function disconnect(c: Conn): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) =>
      c.client.disconnect((err) => (err ? reject(err) : resolve())),
    ),
    3000,
    'disconnect',
  );
}

async function until(cond: () => boolean, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(5);
  }
}

describe('stompit', () => {
  test('connects (negotiates 1.2) and disconnects with a receipt', async () => {
    const b = await broker();
    const c = await connect(b);
    assert.equal(c.client.headers.version, '1.2');
    assert.match(c.client.headers.server ?? '', /^coilmq\//);
    assert.ok(c.client.headers.session);
    assert.equal(b.stats().connections, 1);
    await disconnect(c);
    assert.deepEqual(c.errors, []);
    await until(() => b.stats().connections === 0);
  });

  test('negotiates 1.1 and 1.0 when asked', async () => {
    const b = await broker();
    const c11 = await connect(b, { 'accept-version': '1.1' });
    assert.equal(c11.client.headers.version, '1.1');
    const c10 = await connect(b, { 'accept-version': '1.0' });
    assert.equal(c10.client.headers.version, '1.0', 'version:1.0, as RabbitMQ sends it');
    assert.ok(c10.client.headers.session);
    await disconnect(c11);
    await disconnect(c10);
  });

  test('queue: send with receipt, subscribe, receive body and headers', async () => {
    const b = await broker();
    const producer = await connect(b);
    await send(
      producer,
      { destination: '/queue/sq', 'content-type': 'text/plain', 'x-app': 'a:b' },
      'hello from stompit',
    );
    assert.equal(b.queueDepth('/queue/sq'), 1);
    const consumer = await connect(b);
    const { inbox, sub } = await subscribe(consumer, { destination: '/queue/sq' });
    const { message, body } = await inbox.next();
    assert.equal(body, 'hello from stompit');
    assert.equal(message.headers.destination, '/queue/sq');
    assert.equal(message.headers.subscription, String(sub.getId()));
    assert.equal(message.headers['content-type'], 'text/plain');
    assert.equal(message.headers['x-app'], 'a:b');
    assert.ok(message.headers['message-id']);
    // stompit parses content-length into a number.
    assert.equal(Number(message.headers['content-length']), Buffer.byteLength(body));
    assert.equal(b.queueDepth('/queue/sq'), 0);
    await disconnect(consumer);
    await disconnect(producer);
    assert.deepEqual([...producer.errors, ...consumer.errors, ...inbox.errors], []);
  });

  test('binary body with NUL bytes', async () => {
    const b = await broker();
    const c = await connect(b);
    const received = new Promise<Buffer>((resolve) => {
      c.client.subscribe({ destination: '/queue/sbin' }, (err, message) => {
        const chunks: Buffer[] = [];
        message.on('data', (d: Buffer) => chunks.push(d));
        message.on('end', () => resolve(Buffer.concat(chunks)));
      });
    });
    await barrier(c);
    const payload = Buffer.from([0, 1, 2, 0, 255, 254, 0]);
    // stompit never adds content-length itself; binary senders must.
    await send(c, { destination: '/queue/sbin', 'content-length': payload.length }, payload);
    assert.deepEqual(await within(received, 3000, 'binary message'), payload);
    await disconnect(c);
  });

  test('topic: each subscriber gets a copy', async () => {
    const b = await broker();
    const a = await connect(b);
    const c2 = await connect(b);
    const s1 = await subscribe(a, { destination: '/topic/st' });
    const s2 = await subscribe(c2, { destination: '/topic/st' });
    await send(a, { destination: '/topic/st', 'x-n': 7 }, 'fan-out');
    const [r1, r2] = await Promise.all([s1.inbox.next(), s2.inbox.next()]);
    assert.equal(r1.body, 'fan-out');
    assert.equal(r2.body, 'fan-out');
    assert.equal(r1.message.headers['x-n'], '7');
    assert.equal(r2.message.headers.destination, '/topic/st');
    assert.equal(await s1.inbox.quiet(50), true, 'exactly one copy each');
    await disconnect(a);
    await disconnect(c2);
  });

  test('unsubscribe stops delivery', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox, sub } = await subscribe(c, { destination: '/topic/sunsub' });
    sub.unsubscribe();
    await barrier(c);
    await send(c, { destination: '/topic/sunsub' }, 'nobody');
    assert.equal(await inbox.quiet(100), true);
    assert.deepEqual(c.errors, []);
    await disconnect(c);
  });

  test('client ack mode: ACK is cumulative, the rest returns on disconnect', async () => {
    const b = await broker();
    const p = await connect(b);
    for (const n of ['1', '2', '3']) await send(p, { destination: '/queue/sack' }, n);
    const c = await connect(b);
    const { inbox } = await subscribe(c, { destination: '/queue/sack', ack: 'client' });
    const first = await inbox.next();
    const second = await inbox.next();
    const third = await inbox.next();
    assert.deepEqual([first.body, second.body, third.body], ['1', '2', '3']);
    assert.ok(second.message.headers.ack, '1.2 MESSAGE has ack header');
    c.client.ack(second.message); // covers 1 and 2
    await barrier(c);
    assert.deepEqual(c.errors, []);
    await disconnect(c);
    assert.equal(b.queueDepth('/queue/sack'), 1, 'message 3 went back to the queue');

    const d = await connect(b);
    const again = await subscribe(d, { destination: '/queue/sack', ack: 'client' });
    const redelivered = await again.inbox.next();
    assert.equal(redelivered.body, '3');
    assert.equal(redelivered.message.headers.redelivered, 'true');
    d.client.ack(redelivered.message);
    await barrier(d);
    assert.equal(await again.inbox.quiet(50), true);
    await disconnect(d);
    await disconnect(p);
    assert.equal(b.queueDepth('/queue/sack'), 0);
  });

  test('client-individual: NACK redelivers', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox } = await subscribe(c, { destination: '/queue/snack', ack: 'client-individual' });
    await send(c, { destination: '/queue/snack' }, 'retry me');
    const first = await inbox.next();
    c.client.nack(first.message);
    const second = await inbox.next();
    assert.equal(second.body, 'retry me');
    assert.equal(second.message.headers.redelivered, 'true');
    assert.equal(second.message.headers['x-delivery-count'], '1');
    c.client.ack(second.message);
    await barrier(c);
    await disconnect(c);
    assert.equal(b.queueDepth('/queue/snack'), 0);
    assert.deepEqual(c.errors, []);
  });

  test('ack in client mode over STOMP 1.1 (message-id + subscription)', async () => {
    const b = await broker();
    const c = await connect(b, { 'accept-version': '1.1' });
    const { inbox } = await subscribe(c, { destination: '/queue/s11', ack: 'client' });
    await send(c, { destination: '/queue/s11' }, 'v11');
    const r = await inbox.next();
    c.client.ack(r.message);
    await barrier(c);
    assert.deepEqual(c.errors, []);
    await disconnect(c);
    assert.equal(b.queueDepth('/queue/s11'), 0);
  });

  test('transactions: commit delivers, abort drops', async () => {
    const b = await broker();
    const c = await connect(b);
    const { inbox } = await subscribe(c, { destination: '/queue/stx' });
    const tx = c.client.begin();
    await within(
      new Promise<void>((resolve) => {
        const f = tx.send({ destination: '/queue/stx' }, { onReceipt: resolve });
        f.end('committed');
      }),
      3000,
      'tx SEND receipt',
    );
    assert.equal(await inbox.quiet(80), true, 'not before COMMIT');
    await within(
      new Promise<void>((resolve) => tx.commit({ onReceipt: resolve })),
      3000,
      'COMMIT receipt',
    );
    assert.equal((await inbox.next()).body, 'committed');

    const tx2 = c.client.begin();
    tx2.send({ destination: '/queue/stx' }).end('aborted');
    await within(
      new Promise<void>((resolve) => tx2.abort({ onReceipt: resolve })),
      3000,
      'ABORT receipt',
    );
    assert.equal(await inbox.quiet(80), true, 'aborted SEND never delivered');
    assert.equal(b.queueDepth('/queue/stx'), 0);
    assert.deepEqual(c.errors, []);
    await disconnect(c);
  });

  test('heart-beats 100,100 with heartbeatMinInterval 50 keep the connection alive', async () => {
    const b = await broker({ heartbeatMinInterval: 50 });
    const c = await connect(b, { 'heart-beat': '100,100' });
    assert.equal(c.client.headers['heart-beat'], '100,100');
    await delay(1000);
    assert.deepEqual(c.errors, [], 'neither side timed out');
    assert.equal(b.stats().connections, 1);
    const { inbox } = await subscribe(c, { destination: '/queue/shb' });
    await send(c, { destination: '/queue/shb' }, 'alive');
    assert.equal((await inbox.next()).body, 'alive');
    await disconnect(c);
  });

  // stompit 1.0.0 mishandles an ERROR whose content-type is exactly `text/plain` (its
  // lib/Client.js onError calls destroy on the frame stream, an uncaught exception). coilmq
  // sends `text/plain;charset=utf-8`, which these tests keep working.
  test('rejected login reaches the connect callback as an error', async () => {
    const b = await broker({
      authenticate: (login, passcode) => login === 'u' && passcode === 'p',
    });
    await assert.rejects(connect(b, { login: 'u', passcode: 'wrong' }), (err: Error) => {
      assert.match(err.message, /\(\w+\)/, 'message carries the error code');
      return true;
    });
    const ok = await connect(b, { login: 'u', passcode: 'p' });
    assert.equal(ok.client.headers.version, '1.2');
    await disconnect(ok);
  });

  test('broker shutdown: the client gets an ERROR with SERVER_SHUTDOWN', async () => {
    const b = await broker();
    const c = await connect(b);
    await b.close();
    await within(c.done, 3000, 'client end');
    assert.equal(c.errors.length, 1);
    assert.match(c.errors[0]!.message, /SERVER_SHUTDOWN/);
  });
});
