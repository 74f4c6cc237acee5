/**
 * The session's other small owners, tested directly: Transactions (open transactions and
 * their operations), ReceiptGate (RECEIPTs held until the store has committed), ReadGate
 * (when a session reads) and Output (cork per tick, the slab, large bodies, WebSocket).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Frame, type StompVersion } from '../../src/protocol/index.js';
import { SharedMessage } from '../../src/protocol/encoder.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Heartbeats } from '../../src/broker/heartbeat.js';
import { Output, TickFlusher } from '../../src/broker/output.js';
import { ReadGate } from '../../src/broker/read-gate.js';
import { ReceiptGate } from '../../src/broker/receipts.js';
import { Transactions } from '../../src/broker/transactions.js';
import { MemoryStream, nextTick } from '../helpers/memory-stream.js';

describe('Transactions', () => {
  test('BEGIN twice is DUPLICATE_TRANSACTION; an unknown one is UNKNOWN_TRANSACTION', () => {
    const t = new Transactions();
    t.begin('tx');
    assert.throws(() => t.begin('tx'), { code: 'DUPLICATE_TRANSACTION' });
    assert.throws(() => t.ops('other'), { code: 'UNKNOWN_TRANSACTION' });
    assert.throws(() => t.end('other'), { code: 'UNKNOWN_TRANSACTION' });
  });

  test('end() returns the operations in the order they were added, and forgets the transaction', () => {
    const t = new Transactions();
    t.begin('tx');
    const a = Frame.of('SEND', { destination: '/queue/a' });
    const b = Frame.of('SEND', { destination: '/queue/b' });
    t.ops('tx').push({ kind: 'send', destination: '/queue/a', frame: a });
    t.ops('tx').push({ kind: 'send', destination: '/queue/b', frame: b });
    assert.deepEqual(
      t.end('tx').map((op) => (op.kind === 'send' ? op.frame : undefined)),
      [a, b],
    );
    assert.equal(t.size, 0);
    assert.throws(() => t.end('tx'), { code: 'UNKNOWN_TRANSACTION' });
  });

  test('clear() drops every open transaction', () => {
    const t = new Transactions();
    t.begin('a');
    t.begin('b');
    t.clear();
    assert.equal(t.size, 0);
    t.begin('a'); // free again
  });
});

function receiptHost() {
  const sent: string[] = [];
  const failed: string[] = [];
  return {
    sent,
    failed,
    streamClosed: false,
    sendReceipt: (id: string) => void sent.push(id),
    storeFailed: (err: Error) => void failed.push(err.message),
  };
}

describe('ReceiptGate', () => {
  const frame = Frame.of('SEND', { receipt: 'r' });

  test('without store writes a RECEIPT goes out at once', () => {
    const host = receiptHost();
    const gate = new ReceiptGate(new MemoryStore(), host);
    gate.receipt('r1', frame);
    assert.deepEqual(host.sent, ['r1']);
  });

  test('after a store write the RECEIPT waits for the commit, and later ones queue behind it', async () => {
    const store = new MemoryStore();
    await store.open();
    const host = receiptHost();
    const gate = new ReceiptGate(store, host);
    gate.noteStoreWrite();
    gate.receipt('r1', frame);
    gate.receipt('r2', frame); // no write of its own, but it may not overtake r1
    assert.deepEqual(host.sent, []);
    let after = false;
    gate.whenIdle(() => (after = host.sent.length === 2));
    await nextTick();
    assert.deepEqual(host.sent, ['r1', 'r2']);
    assert.equal(after, true, 'whenIdle runs right after the last waiting receipt');
    gate.receipt('r3', frame);
    assert.deepEqual(host.sent, ['r1', 'r2', 'r3'], 'everything durable: at once again');
  });

  test('a failed commit is reported instead of the RECEIPT', async () => {
    const store = new MemoryStore();
    await store.open();
    await store.close(); // sync now reports an error
    const host = receiptHost();
    const gate = new ReceiptGate(store, host);
    gate.noteStoreWrite();
    gate.receipt('r1', frame);
    await nextTick();
    assert.deepEqual(host.sent, []);
    assert.deepEqual(host.failed, ['store is closed']);
  });

  test('without a store there is nothing to wait for', () => {
    const host = receiptHost();
    const gate = new ReceiptGate(undefined, host);
    gate.noteStoreWrite();
    gate.receipt('r1', frame);
    let ran = false;
    gate.whenIdle(() => (ran = true));
    assert.deepEqual(host.sent, ['r1']);
    assert.equal(ran, true);
  });
});

describe('ReadGate', () => {
  function gate() {
    const calls: string[] = [];
    const g = new ReadGate({
      stopReading: () => void calls.push('stop'),
      startReading: () => void calls.push('start'),
    });
    return { g, calls };
  }

  test('reading stops at the first reason to wait and starts when the last one ends', () => {
    const { g, calls } = gate();
    g.pause();
    g.pause();
    g.resume();
    assert.deepEqual(calls, ['stop']);
    assert.equal(g.paused, true);
    g.resume();
    assert.deepEqual(calls, ['stop', 'start']);
    assert.equal(g.paused, false);
  });

  test('after a burst of input it yields one turn to the other connections', async () => {
    const { g, calls } = gate();
    g.counted(128 * 1024);
    assert.deepEqual(calls, []);
    g.counted(128 * 1024);
    assert.deepEqual(calls, ['stop']);
    await nextTick();
    assert.deepEqual(calls, ['stop', 'start']);
  });

  test('waiting on the store resumes once what is pending is durable', async () => {
    const store = new MemoryStore();
    await store.open();
    const { g, calls } = gate();
    g.waitForStore(store);
    g.waitForStore(store); // once is enough
    assert.deepEqual(calls, ['stop']);
    await nextTick();
    assert.deepEqual(calls, ['stop', 'start']);
  });
});

function message(body: Buffer): SharedMessage {
  return new SharedMessage(['destination', '/queue/a'], body, true);
}

async function written(transport: string, write: (o: Output) => void) {
  const stream = new MemoryStream(transport);
  const output = new Output(stream, new TickFlusher(), 1 << 20);
  write(output);
  assert.equal(stream.corked, true, 'corked during the tick');
  await nextTick();
  assert.equal(stream.corked, false, 'uncorked when the tick ends');
  return stream;
}

describe('Output', () => {
  const v: StompVersion = '1.2';
  const lines = (n: number): string => `MESSAGE\nsubscription:s\nmessage-id:m-${n}\n`;

  test("a turn's first MESSAGE is written alone, the rest together from one slab", async () => {
    const m = message(Buffer.from('hi'));
    const stream = await written('tcp', (o) => {
      for (let i = 1; i <= 3; i++) o.writeMessage(m, v, lines(i), true);
    });
    assert.deepEqual(stream.events, ['cork', 'write', 'write', 'uncork']);
    assert.equal(
      stream.text,
      [1, 2, 3]
        .map(
          (i) =>
            `MESSAGE\nsubscription:s\nmessage-id:m-${i}\ndestination:/queue/a\ncontent-length:2\n\nhi\0`,
        )
        .join(''),
    );
  });

  test('another frame written between MESSAGEs keeps its place', async () => {
    const m = message(Buffer.from('x'));
    const stream = await written('tcp', (o) => {
      o.writeMessage(m, v, lines(1), true);
      o.writeMessage(m, v, lines(2), true);
      o.write(Buffer.from('RECEIPT\nreceipt-id:r\n\n\0'));
      o.writeMessage(m, v, lines(3), true);
    });
    assert.deepEqual(
      stream.frames.map((f) => f.split('\n').slice(0, 3).join('|')),
      [
        'MESSAGE|subscription:s|message-id:m-1',
        'MESSAGE|subscription:s|message-id:m-2',
        'RECEIPT|receipt-id:r|',
        'MESSAGE|subscription:s|message-id:m-3',
      ],
    );
  });

  test('a large body is written as it is, after its header lines, not copied', async () => {
    const body = Buffer.alloc(64 * 1024, 0x61);
    const stream = await written('tcp', (o) => o.writeMessage(message(body), v, lines(1), true));
    assert.equal(stream.writes.length, 3);
    assert.equal(stream.writes[1], body, 'the body itself');
    assert.deepEqual([...stream.writes[2]!], [0]);
  });

  test('over WebSocket every frame is a write of its own, whole', async () => {
    const m = message(Buffer.alloc(20 * 1024, 0x62));
    const stream = await written('ws', (o) => {
      o.writeMessage(m, v, lines(1), true);
      o.writeMessage(m, v, lines(2), true);
    });
    assert.equal(stream.writes.length, 2);
    for (const w of stream.writes) assert.equal(w[w.length - 1], 0, 'ends with its NUL');
  });

  test('past the high-water mark it asks to hear when the stream drains', async () => {
    const stream = new MemoryStream('tcp');
    const output = new Output(stream, new TickFlusher(), 100);
    stream.bufferedAmount = 150;
    output.write(Buffer.from('RECEIPT\nreceipt-id:r\n\n\0'));
    assert.ok(stream.events.includes('waitDrain'));
    await nextTick();
  });

  test('takeWritten says whether anything was written since it was last asked', () => {
    const output = new Output(new MemoryStream('tcp'), new TickFlusher(), 1 << 20);
    assert.equal(output.takeWritten(), false);
    output.write(Buffer.from('\n'));
    assert.equal(output.takeWritten(), true);
    assert.equal(output.takeWritten(), false);
  });

  test('nothing is written once the stream has closed', async () => {
    const stream = new MemoryStream('tcp');
    const output = new Output(stream, new TickFlusher(), 1 << 20);
    output.close();
    output.write(Buffer.from('\n'));
    output.writeMessage(message(Buffer.from('x')), v, lines(1), true);
    assert.equal(stream.writes.length, 0);
  });
});

describe('Heartbeats', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  function host() {
    const stream = new MemoryStream('tcp');
    const h = {
      stream,
      output: new Output(stream, new TickFlusher(), 1 << 20),
      readingPaused: false,
      timeouts: [] as number[],
      heartbeatTimeout: (ms: number) => void h.timeouts.push(ms),
    };
    return h;
  }

  test('an idle session sends EOLs; a session that writes sends none', async () => {
    const idle = host();
    const busy = host();
    const a = new Heartbeats(idle);
    const b = new Heartbeats(busy);
    a.start(40, 0, 1.5);
    b.start(40, 0, 1.5);
    const writing = setInterval(() => busy.output.write(Buffer.from('RECEIPT\n\n\0')), 5);
    try {
      await sleep(200);
    } finally {
      clearInterval(writing);
      a.stop();
      b.stop();
    }
    assert.ok(idle.stream.writes.length >= 2, `beats sent: ${idle.stream.writes.length}`);
    assert.ok(idle.stream.writes.every((w) => w.toString() === '\n'));
    assert.ok(!busy.stream.writes.some((w) => w.toString() === '\n'), 'no beat while writing');
  });

  test('a silent client is reported past its interval times the grace; data keeps it alive', async () => {
    const silent = host();
    const talking = host();
    const a = new Heartbeats(silent);
    const b = new Heartbeats(talking);
    a.start(0, 30, 1.5);
    b.start(0, 30, 1.5);
    const beating = setInterval(() => b.read(), 10);
    try {
      await sleep(200);
    } finally {
      clearInterval(beating);
      a.stop();
      b.stop();
    }
    assert.ok(silent.timeouts.length >= 1, 'reported');
    assert.ok(silent.timeouts[0]! >= 45, `not before 30 x 1.5 ms (${silent.timeouts[0]})`);
    assert.deepEqual(talking.timeouts, []);
  });

  test("while reading is paused the silence is not the client's", async () => {
    const paused = host();
    paused.readingPaused = true;
    const h = new Heartbeats(paused);
    h.start(0, 20, 1.5);
    await sleep(150);
    h.stop();
    assert.deepEqual(paused.timeouts, []);
  });
});
