/**
 * Helpers for the black-box delivery tests (test/delivery/). A test gets a fresh broker
 * on 127.0.0.1 port 0 and RawClients on it; everything is closed when the test ends, so
 * the process exits. Frames are built as literal bytes; the builders here are only a
 * convenience for the bulk tests (the protocol tests spell their bytes out).
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import type { Frame, StompVersion } from '../../src/protocol/index.js';
import { RawClient } from './raw-client.js';

export { RawClient };
export type { Frame, StompVersion };

export interface Env {
  broker: Broker;
  port: number;
  /** A connected client (CONNECTED consumed); closed when the test ends. */
  connect(version?: StompVersion, headers?: Record<string, string>): Promise<RawClient>;
  /** A bare socket (no CONNECT yet); closed when the test ends. */
  open(): Promise<RawClient>;
}

/**
 * Starts a broker for one test and registers its teardown: clients are destroyed first,
 * then the broker is closed (which waits for every connection to go).
 */
export async function setup(t: TestContext, options: BrokerOptions = {}): Promise<Env> {
  const broker = await startBroker({ port: 0, closeLinger: 200, ...options });
  const port = broker.address().port;
  const clients: RawClient[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await broker.close();
  });
  return {
    broker,
    port,
    async connect(version: StompVersion = '1.2', headers: Record<string, string> = {}) {
      const c = await RawClient.connect(port, version, headers);
      clients.push(c);
      return c;
    },
    async open() {
      const c = await RawClient.open(port);
      clients.push(c);
      return c;
    },
  };
}

/** Encodes a client frame. Header values are written as given (no escaping is applied). */
export function frame(
  command: string,
  headers: Record<string, string | number> | Array<[string, string]> = {},
  body: string | Buffer = '',
): Buffer {
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  let head = command + '\n';
  for (const [k, v] of entries) head += `${k}:${v}\n`;
  head += '\n';
  return Buffer.concat([Buffer.from(head), Buffer.from(body), Buffer.from([0])]);
}

let receiptCounter = 0;

/**
 * Waits for the RECEIPT with this id. Frames that arrive before it are left queued on the
 * client, in order. An ERROR before it fails the wait.
 */
export async function receipt(c: RawClient, id: string, timeoutMs = 5000): Promise<void> {
  const stash: Frame[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const f = await c.next(Math.max(1, deadline - Date.now()));
      if (f.command === 'RECEIPT' && f.header('receipt-id') === id) return;
      stash.push(f);
      if (f.command === 'ERROR') {
        throw new Error(`ERROR while waiting for receipt ${id}: ${f.header('message')}`);
      }
    }
  } finally {
    c.frames.splice(0, 0, ...stash);
  }
}

/**
 * A round trip: every frame written before it has been processed once this resolves
 * . Uses a SEND to a topic nobody subscribes to, which has no effect.
 */
export async function sync(c: RawClient): Promise<void> {
  const id = `sync-${++receiptCounter}`;
  c.write(frame('SEND', { destination: '/topic/coilmq-test-sync-nobody', receipt: id }));
  await receipt(c, id);
}

export interface SubscribeOptions {
  id?: string;
  ack?: 'auto' | 'client' | 'client-individual';
  headers?: Record<string, string | number>;
}

/** SUBSCRIBE with a receipt, and wait for the receipt. Returns the subscription id. */
export async function subscribe(
  c: RawClient,
  destination: string,
  opts: SubscribeOptions = {},
): Promise<string> {
  const id = opts.id ?? `sub-${++receiptCounter}`;
  const r = `subscribed-${id}-${++receiptCounter}`;
  const headers: Record<string, string | number> = { id, destination };
  if (opts.ack !== undefined) headers.ack = opts.ack;
  Object.assign(headers, opts.headers ?? {});
  headers.receipt = r;
  c.write(frame('SUBSCRIBE', headers));
  await receipt(c, r);
  return id;
}

/** UNSUBSCRIBE with a receipt, and wait for it (frames before it stay queued). */
export async function unsubscribe(c: RawClient, id: string): Promise<void> {
  const r = `unsubscribed-${id}-${++receiptCounter}`;
  c.write(frame('UNSUBSCRIBE', { id, receipt: r }));
  await receipt(c, r);
}

/** SEND without a receipt. */
export function send(
  c: RawClient,
  destination: string,
  body: string | Buffer,
  headers: Record<string, string | number> = {},
): void {
  c.write(frame('SEND', { destination, ...headers }, body));
}

/** The next `n` frames, which must all be MESSAGEs. */
export async function messages(c: RawClient, n: number, timeoutMs = 5000): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const f = await c.next(timeoutMs);
    if (f.command !== 'MESSAGE') {
      throw new Error(
        `expected MESSAGE ${i + 1} of ${n}, got ${f.command} ${JSON.stringify(f.entries())} ${f.body.toString()}`,
      );
    }
    out.push(f);
  }
  return out;
}

/** The ACK (or NACK) frame for a MESSAGE, in the form the version uses (A-01..A-03). */
export function ackFrame(
  version: StompVersion,
  m: Frame,
  extra: Record<string, string> = {},
  command: 'ACK' | 'NACK' = 'ACK',
): Buffer {
  if (version === '1.2') return frame(command, { id: m.header('ack')!, ...extra });
  if (version === '1.1') {
    return frame(command, {
      'message-id': m.header('message-id')!,
      subscription: m.header('subscription')!,
      ...extra,
    });
  }
  return frame(command, { 'message-id': m.header('message-id')!, ...extra });
}

/** Bodies of frames as strings. */
export function bodies(frames: readonly Frame[]): string[] {
  return frames.map((f) => f.body.toString());
}

/** 0..n-1 formatted with a prefix: seq('m', 3) = ['m0', 'm1', 'm2']. */
export function seq(prefix: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + from}`);
}

/**
 * The next frame must be an ERROR with this code (in `code` and in `message`), carrying
 * the given receipt-id and command if asked; then the broker closes the connection.
 */
export async function expectError(
  c: RawClient,
  code: string,
  opts: { receiptId?: string; command?: string } = {},
): Promise<Frame> {
  const f = await c.expect('ERROR');
  assert.equal(f.header('code'), code, `ERROR code (message: ${f.header('message')})`);
  assert.ok(
    f.header('message')?.includes(`(${code})`),
    `message header names the code: ${f.header('message')}`,
  );
  if (opts.receiptId !== undefined) assert.equal(f.header('receipt-id'), opts.receiptId);
  if (opts.command !== undefined) assert.equal(f.header('command'), opts.command);
  assert.ok(f.header('content-length') !== undefined, 'ERROR carries content-length');
  await c.waitClosed();
  return f;
}

/** Polls until `cond` holds, or fails after timeoutMs. */
export async function until(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
  stepMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A header check: the message was redelivered `count` times before (or never, count 0). */
export function assertDeliveryCount(m: Frame, count: number): void {
  if (count === 0) {
    assert.equal(m.header('redelivered'), undefined, 'first delivery is not marked redelivered');
    assert.equal(m.header('x-delivery-count'), undefined);
  } else {
    assert.equal(m.header('redelivered'), 'true', `redelivery of ${m.body.toString()}`);
    assert.equal(m.header('x-delivery-count'), String(count));
  }
}
