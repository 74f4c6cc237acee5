/**
 * Broker.handle(stream): a transport of the embedder's own. A session driven over an
 * in-memory ByteStream behaves exactly as over TCP, byte for byte, and shares queues with
 * TCP clients.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../../src/index.js';
import { MemoryStream, nextTick } from '../helpers/memory-stream.js';
import { RawClient } from '../helpers/raw-client.js';
import { until } from '../helpers/session.js';

async function withBroker(run: (b: Awaited<ReturnType<typeof startBroker>>) => Promise<void>) {
  const b = await startBroker({ port: 0 });
  try {
    await run(b);
  } finally {
    await b.close(1000);
  }
}

describe('a session over a ByteStream of our own', () => {
  test('CONNECT, SUBSCRIBE with a receipt, SEND: the frames written are the expected bytes', () =>
    withBroker(async (b) => {
      const s = new MemoryStream();
      b.handle(s);
      s.receive('CONNECT\naccept-version:1.2\nhost:x\n\n\0');
      await nextTick();
      assert.match(
        s.frames[0]!,
        /^CONNECTED\nversion:1\.2\nsession:[0-9a-f]{8}-\d+\nserver:coilmq\/[^\n]+\nheart-beat:0,0\n\n$/,
      );
      s.receive('SUBSCRIBE\nid:0\ndestination:/queue/mem\nack:client\nreceipt:r1\n\n\0');
      s.receive('SEND\ndestination:/queue/mem\ncontent-type:text/plain\n\nhello\0');
      await until(() => s.frames.length === 3, 'RECEIPT and MESSAGE');
      assert.equal(s.frames[1], 'RECEIPT\nreceipt-id:r1\n\n');
      assert.match(
        s.frames[2]!,
        /^MESSAGE\nsubscription:0\nmessage-id:[0-9a-f]{8}-\d+\nack:1\ndestination:\/queue\/mem\ncontent-type:text\/plain\ncontent-length:5\n\nhello$/,
      );
      s.receive('ACK\nid:1\n\n\0DISCONNECT\nreceipt:bye\n\n\0');
      await until(() => s.ended, 'closed after DISCONNECT');
      assert.equal(s.frames[3], 'RECEIPT\nreceipt-id:bye\n\n');
      assert.equal(b.queueDepth('/queue/mem'), 0, 'acknowledged');
    }));

  test('a TCP producer and an in-memory consumer share a queue', () =>
    withBroker(async (b) => {
      const s = new MemoryStream();
      b.handle(s);
      s.receive(
        'CONNECT\naccept-version:1.1\nhost:x\n\n\0SUBSCRIBE\nid:a\ndestination:/queue/shared\n\n\0',
      );
      const p = await RawClient.connect(b.address().port, '1.2');
      try {
        p.write('SEND\ndestination:/queue/shared\n\nfrom tcp\0');
        await until(() => s.frames.length === 2, 'the MESSAGE');
        assert.match(s.frames[1]!, /^MESSAGE\nsubscription:a\n.*\n\nfrom tcp$/s);
      } finally {
        p.destroy();
      }
    }));

  test('bad input gets an ERROR with its code, then the stream is ended', () =>
    withBroker(async (b) => {
      const s = new MemoryStream();
      b.handle(s);
      s.receive('SEND\ndestination:/queue/x\n\n\0');
      await until(() => s.ended, 'ended');
      assert.match(
        s.frames[0]!,
        /^ERROR\nmessage:[^\n]*\(NOT_CONNECTED\)\ncode:NOT_CONNECTED\ncommand:SEND\n/,
      );
      assert.equal(b.stats().errors.NOT_CONNECTED, 1);
      await until(() => b.stats().connections === 0, 'session gone');
    }));
});
