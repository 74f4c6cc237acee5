/**
 * Crash test (issue 4): the real `coilmq` process on a temporary data directory, three
 * producers sending persistent messages with a receipt each, a consumer acknowledging some
 * of them (ack:client-individual, a receipt per ACK), and a SIGKILL at a random moment.
 * A third of the messages go to a queue nobody consumes before the kill (a backlog). The
 * broker is started again on the same directory and both queues are drained. Then:
 *
 * - every message whose RECEIPT came is delivered at least once: it was acknowledged before
 *   the kill, or it comes back after the restart (always, when no ACK had been sent for it);
 * - no message whose ACK got a RECEIPT comes back;
 * - bodies (binary, with NULs, framed by content-length) are byte-identical, before and after;
 * - after the restart no message comes twice, none that was never sent, each producer's
 *   messages come in the order it sent them, and only messages delivered before the kill
 *   are marked redelivered;
 * - each producer's RECEIPTs came in the order of its SENDs.
 *
 * Several trials, each with its own kill moment.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import { RawClient } from '../helpers/raw-client.js';
import type { Frame } from '../../src/protocol/index.js';
import {
  ensureBuilt,
  killAll,
  startCoilmq,
  tempDir,
  within,
  type CoilmqProcess,
} from '../helpers/coilmq-process.js';

/** The consumer takes from the first queue during the trial; the second builds a backlog. */
const QUEUES = ['/queue/crash', '/queue/crash-backlog'] as const;
const PRODUCERS = 3;
const TRIALS = 5;
/** SENDs a producer has written without their RECEIPT yet. */
const WINDOW = 8;
/** A bound on each producer per trial (never reached within the kill delay, in practice). */
const MAX_PER_PRODUCER = 20_000;

interface Sent {
  id: string;
  producer: number;
  n: number;
  queue: string;
  body: Buffer;
  receipted: boolean;
}

interface Trial {
  sent: Map<string, Sent>;
  /** Receipt ids that came in the wrong order, or unexpected frames, per producer. */
  producerProblems: string[];
  /** x-ids delivered before the kill (in order), and the ACKs sent and receipted. */
  deliveredBefore: string[];
  ackSent: Set<string>;
  ackReceipted: Set<string>;
  consumerProblems: string[];
}

const sockets: RawClient[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  killAll();
});

after(() => {
  killAll();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port, '1.2');
  sockets.push(c);
  return c;
}

/** Calls `onFrame` for every frame the client receives, until its connection closes. */
async function pump(c: RawClient, onFrame: (f: Frame) => void): Promise<void> {
  for (;;) {
    let f: Frame;
    try {
      f = await c.next(3_600_000);
    } catch {
      return; // closed
    }
    onFrame(f);
  }
}

/** A binary body: random bytes with NULs, newlines and colons in it, 0 to 600 bytes. */
function binaryBody(): Buffer {
  const b = randomBytes(randomInt(0, 601));
  for (let i = 0; i < b.length; i += 37) b[i] = [0, 10, 58, 13, 92][i % 5]!;
  return b;
}

function sendFrame(headers: string[], body: Buffer): Buffer {
  let head = 'SEND\n';
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}:${headers[i + 1]}\n`;
  head += `content-length:${body.length}\n\n`;
  return Buffer.concat([Buffer.from(head), body, Buffer.from([0])]);
}

/** A producer: keeps WINDOW persistent SENDs (each with a receipt) outstanding until closed. */
function startProducer(
  c: RawClient,
  p: number,
  trial: Trial,
  firstReceipt: () => void,
): Promise<void> {
  let n = 0;
  const outstanding: string[] = [];
  const sendOne = (): void => {
    if (c.ended || n >= MAX_PER_PRODUCER) return;
    const id = `${p}-${n}`;
    const body = binaryBody();
    const queue = QUEUES[n % 3 === 2 ? 1 : 0];
    trial.sent.set(id, { id, producer: p, n, queue, body, receipted: false });
    outstanding.push(id);
    n++;
    c.write(
      sendFrame(
        [
          'destination',
          queue,
          'x-id',
          id,
          'receipt',
          id,
          'content-type',
          'application/octet-stream',
        ],
        body,
      ),
    );
  };
  for (let i = 0; i < WINDOW; i++) sendOne();
  return pump(c, (f) => {
    if (f.command !== 'RECEIPT') {
      trial.producerProblems.push(`producer ${p} got ${f.command} ${JSON.stringify(f.entries())}`);
      return;
    }
    const id = f.header('receipt-id')!;
    const expected = outstanding.shift();
    if (id !== expected) {
      trial.producerProblems.push(`producer ${p}: RECEIPT ${id} came when ${expected} was due`);
    }
    const s = trial.sent.get(id);
    if (s === undefined) trial.producerProblems.push(`producer ${p}: unknown receipt-id ${id}`);
    else {
      if (!s.receipted && s.n === 0) firstReceipt();
      s.receipted = true;
    }
    sendOne();
  });
}

/**
 * The consumer: acknowledges four messages out of five at once, each ACK with a receipt,
 * and holds the fifth back until 20 more are held, so that it keeps consuming while some
 * messages stay delivered but unacknowledged. Its prefetch keeps what the broker may have
 * written ahead of it small (well below a socket buffer), so that what the broker
 * delivered is what the consumer saw before the kill.
 */
function startConsumer(c: RawClient, trial: Trial, firstAck: () => void): Promise<void> {
  let count = 0;
  const held: Array<{ id: string; ack: string }> = [];
  const ack = (id: string, ackId: string): void => {
    if (c.ended) return;
    trial.ackSent.add(id);
    c.write(`ACK\nid:${ackId}\nreceipt:ack-${id}\n\n\0`);
  };
  c.write(
    `SUBSCRIBE\nid:c\ndestination:${QUEUES[0]}\nack:client-individual\nprefetch-count:100\n\n\0`,
  );
  return pump(c, (f) => {
    if (f.command === 'MESSAGE') {
      const id = f.header('x-id')!;
      const s = trial.sent.get(id);
      if (s === undefined) trial.consumerProblems.push(`unknown message ${id}`);
      else if (!f.body.equals(s.body)) trial.consumerProblems.push(`body of ${id} differs`);
      trial.deliveredBefore.push(id);
      if (count++ % 5 !== 4) {
        ack(id, f.header('ack')!);
      } else {
        held.push({ id, ack: f.header('ack')! });
        if (held.length > 20) {
          const h = held.shift()!;
          ack(h.id, h.ack);
        }
      }
    } else if (f.command === 'RECEIPT') {
      const id = f.header('receipt-id')!.replace(/^ack-/, '');
      if (!trial.ackSent.has(id)) trial.consumerProblems.push(`receipt for no ACK: ${id}`);
      if (trial.ackReceipted.size === 0) firstAck();
      trial.ackReceipted.add(id);
    } else {
      trial.consumerProblems.push(`consumer got ${f.command} ${JSON.stringify(f.entries())}`);
    }
  });
}

interface Drained {
  /** x-ids in delivery order, the marker left out. */
  ids: string[];
  frames: Frame[];
}

/**
 * Drains the queues of a freshly started broker: subscribes (auto ack), then sends a marker
 * to the end of each queue; a queue is FIFO, so everything stored in it before its marker
 * has been delivered once the marker comes. Then nothing more may come.
 */
async function drain(port: number): Promise<Drained> {
  const consumer = await connect(port);
  QUEUES.forEach((q, i) =>
    consumer.write(`SUBSCRIBE\nid:${i}\ndestination:${q}\nreceipt:sub-${i}\n\n\0`),
  );
  const frames: Frame[] = [];
  const markers = new Set<string>();
  const take = (f: Frame): void => {
    assert.equal(f.command, 'MESSAGE', `${f.command} ${JSON.stringify(f.entries())}`);
    const id = f.header('x-id')!;
    if (id.startsWith('marker')) markers.add(id);
    else frames.push(f);
  };
  for (;;) {
    const f = await consumer.next(20_000);
    if (f.command === 'RECEIPT' && f.header('receipt-id') === `sub-${QUEUES.length - 1}`) break;
    if (f.command !== 'RECEIPT') take(f);
  }
  const marker = await connect(port);
  QUEUES.forEach((q, i) =>
    marker.write(
      sendFrame(['destination', q, 'x-id', `marker-${i}`, 'receipt', `m${i}`], Buffer.from('m')),
    ),
  );
  for (let i = 0; i < QUEUES.length; i++) {
    assert.equal((await marker.expect('RECEIPT', 20_000)).header('receipt-id'), `m${i}`);
  }
  while (markers.size < QUEUES.length) take(await consumer.next(20_000));
  assert.equal(await consumer.quiet(300), true, 'nothing comes after the markers');
  consumer.destroy();
  marker.destroy();
  return { ids: frames.map((f) => f.header('x-id')!), frames };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function runTrial(
  trialNo: number,
  diagnostic: (s: string) => void,
): Promise<{ receipted: number; acked: number; back: number }> {
  const dir = tempDir('coilmq-crash-');
  dirs.push(dir);
  const trial: Trial = {
    sent: new Map(),
    producerProblems: [],
    deliveredBefore: [],
    ackSent: new Set(),
    ackReceipted: new Set(),
    consumerProblems: [],
  };

  let broker: CoilmqProcess = await startCoilmq(dir);
  const consumerClient = await connect(broker.port);
  const producerClients: RawClient[] = [];
  for (let p = 0; p < PRODUCERS; p++) producerClients.push(await connect(broker.port));

  // Traffic runs until the kill; the kill comes at a random moment once every producer has
  // had a RECEIPT and the consumer an ACK receipt, so that each trial has something to check.
  const firsts = [...Array(PRODUCERS + 1)].map(() => deferred());
  const pumps = [
    startConsumer(consumerClient, trial, firsts[PRODUCERS]!.resolve),
    ...producerClients.map((c, p) => startProducer(c, p, trial, firsts[p]!.resolve)),
  ];
  await within(
    Promise.all(firsts.map((d) => d.promise)),
    20_000,
    'a first RECEIPT on every connection',
  );
  const delay = randomInt(100, 601);
  await new Promise((r) => setTimeout(r, delay));
  const exit = await broker.kill('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  await within(Promise.all(pumps), 10_000, 'the connections to close after the kill');

  const all = [...trial.sent.values()];
  const receipted = all.filter((s) => s.receipted);
  diagnostic(
    `trial ${trialNo}: killed after ${delay} ms: ${all.length} sent, ${receipted.length} receipted, ` +
      `${trial.deliveredBefore.length} delivered, ${trial.ackSent.size} acked, ` +
      `${trial.ackReceipted.size} ACK receipts`,
  );
  assert.deepEqual(trial.producerProblems, []);
  assert.deepEqual(trial.consumerProblems, []);

  broker = await startCoilmq(dir);
  const { ids, frames } = await drain(broker.port);
  await broker.kill('SIGKILL');

  // No duplicates, nothing unknown, byte-identical bodies.
  assert.equal(new Set(ids).size, ids.length, 'no message comes twice after the restart');
  const deliveredBefore = new Set(trial.deliveredBefore);
  for (const f of frames) {
    const id = f.header('x-id')!;
    const s = trial.sent.get(id);
    assert.ok(s, `message ${id} was sent`);
    assert.ok(f.body.equals(s.body), `body of ${id} is byte-identical after the restart`);
    assert.equal(f.header('content-type'), 'application/octet-stream');
    assert.equal(f.header('destination'), s.queue, id);
    if (f.header('redelivered') !== undefined) {
      assert.ok(deliveredBefore.has(id), `${id} is marked redelivered but was never delivered`);
      assert.equal(f.header('redelivered'), 'true');
      assert.equal(f.header('x-delivery-count'), '1', id);
    }
  }

  // Receipted messages: delivered at least once; acknowledged (with a RECEIPT) ones never back.
  const back = new Set(ids);
  for (const s of receipted) {
    if (trial.ackReceipted.has(s.id)) {
      assert.ok(!back.has(s.id), `${s.id} was acknowledged (RECEIPT) but came back`);
    } else if (!trial.ackSent.has(s.id)) {
      assert.ok(back.has(s.id), `${s.id} had a RECEIPT and no ACK, but was lost`);
    }
    assert.ok(
      back.has(s.id) || trial.ackSent.has(s.id),
      `${s.id} had a RECEIPT but was never delivered`,
    );
  }
  for (const id of trial.ackReceipted) {
    assert.ok(!back.has(id), `${id}: its ACK had a RECEIPT, yet it came back`);
  }

  // Each producer's messages to each queue in the order it sent them.
  for (let p = 0; p < PRODUCERS; p++) {
    for (const q of QUEUES) {
      const ns = ids
        .map((id) => trial.sent.get(id)!)
        .filter((s) => s.producer === p && s.queue === q);
      for (let i = 1; i < ns.length; i++) {
        assert.ok(
          ns[i - 1]!.n < ns[i]!.n,
          `producer ${p}, ${q}: ${ns[i - 1]!.id} before ${ns[i]!.id}`,
        );
      }
    }
  }
  diagnostic(`trial ${trialNo}: ${ids.length} came back after the restart`);
  return { receipted: receipted.length, acked: trial.ackReceipted.size, back: ids.length };
}

describe('crash: SIGKILL at a random moment, restart on the same data directory', () => {
  before(ensureBuilt);

  for (let i = 1; i <= TRIALS; i++) {
    test(`trial ${i}: receipted messages survive, acknowledged ones do not come back`, async (t) => {
      const r = await runTrial(i, (s) => t.diagnostic(s));
      // The trial did exercise something: receipts, ACK receipts, messages that came back.
      assert.ok(r.receipted >= PRODUCERS);
      assert.ok(r.acked >= 1);
      assert.ok(r.back > 0, 'some unacknowledged messages came back');
    });
  }
});
