/**
 * Helpers for the black-box session tests (test/session/): a broker on 127.0.0.1, port 0,
 * whose clients are all destroyed and which is closed when the test body ends, pass or
 * fail, so that the test process can exit.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import type { Frame, StompVersion } from '../../src/protocol/index.js';
import { RawClient } from './raw-client.js';

export interface Harness {
  broker: Broker;
  port: number;
  /** A raw socket with nothing sent yet. */
  open(): Promise<RawClient>;
  /** A raw socket that has completed CONNECT at `version`. */
  connect(version?: StompVersion, headers?: Record<string, string>): Promise<RawClient>;
  /** Registers anything with destroy() to be destroyed when the test ends. */
  track<T extends { destroy(): void }>(x: T): T;
}

/**
 * Runs `fn` against a fresh broker. Options default to a short closeLinger so that a
 * client that does not close promptly does not slow the test down.
 */
export async function withBroker(
  options: BrokerOptions,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const broker = await startBroker({ port: 0, closeLinger: 300, ...options });
  const port = broker.address().port;
  const tracked: Array<{ destroy(): void }> = [];
  const h: Harness = {
    broker,
    port,
    track(x) {
      tracked.push(x);
      return x;
    },
    async open() {
      return h.track(await RawClient.open(port));
    },
    async connect(version = '1.2', headers = {}) {
      return h.track(await RawClient.connect(port, version, headers));
    },
  };
  try {
    await fn(h);
  } finally {
    for (const x of tracked) x.destroy();
    await broker.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Expects the next frame to be an ERROR with `code` (in the `code` header and, in
 * parentheses, in `message`), and the connection to be closed by the broker after it.
 */
export async function expectErrorThenClose(c: RawClient, code: string): Promise<Frame> {
  const f = await c.expect('ERROR');
  assert.equal(f.header('code'), code, `ERROR code (message: ${f.header('message')})`);
  assert.ok(
    f.header('message')?.includes(`(${code})`),
    `message ${JSON.stringify(f.header('message'))} names ${code}`,
  );
  await c.waitClosed(3000);
  return f;
}

/** Waits until `cond` holds, polling; fails after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Records every byte a client receives from now on, for assertions on the wire format. */
export function recordWire(c: RawClient): { bytes(): Buffer; text(): string } {
  const chunks: Buffer[] = [];
  c.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return {
    bytes: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString('latin1'),
  };
}

/**
 * The header lines, as sent, of the first frame with `command` in the recorded wire text
 * (`latin1`), without the command line.
 */
export function wireHeaderLines(wire: string, command: string): string[] {
  const start = wire.indexOf(command + '\n');
  assert.ok(start >= 0, `no ${command} frame on the wire`);
  const end = wire.indexOf('\n\n', start);
  return wire.slice(start + command.length + 1, end).split('\n');
}

/** A raw socket whose side stays open after the broker half-closes (allowHalfOpen). */
export function openHalfOpen(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the frames received until (and including) the RECEIPT for `receiptId`. */
export async function framesUntilReceipt(
  c: RawClient,
  receiptId: string,
  timeoutMs = 5000,
): Promise<Frame[]> {
  const out: Frame[] = [];
  for (;;) {
    const f = await c.next(timeoutMs);
    out.push(f);
    if (f.command === 'ERROR') {
      throw new Error(`ERROR ${f.header('code')}: ${f.header('message')}`);
    }
    if (f.command === 'RECEIPT' && f.header('receipt-id') === receiptId) return out;
  }
}

/** ERROR content-type: text/plain, optionally with an explicit UTF-8 charset (B-06). */
export const TEXT_PLAIN = /^text\/plain(;\s*charset=utf-8)?$/i;
