import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';

// Flow control: a producer that filled two queues resumes only when both have drained.
test('a producer waiting on two full queues resumes only once both drain', async () => {
  const b = await startBroker({ port: 0, closeLinger: 100, maxQueueMessagesInMemory: 2 });
  const clients: RawClient[] = [];
  try {
    const port = b.address().port;
    const p = await RawClient.connect(port, '1.2');
    clients.push(p);
    // One COMMIT fills both queues (2 each): the producer stops reading after it.
    p.write(
      'BEGIN\ntransaction:t\n\n\0' +
        'SEND\ndestination:/queue/q1\ntransaction:t\n\na\0SEND\ndestination:/queue/q1\ntransaction:t\n\nb\0' +
        'SEND\ndestination:/queue/q2\ntransaction:t\n\nc\0SEND\ndestination:/queue/q2\ntransaction:t\n\nd\0' +
        'COMMIT\ntransaction:t\nreceipt:c\n\n\0' +
        'SEND\ndestination:/topic/t\nreceipt:after\n\nx\0',
    );
    assert.equal((await p.expect('RECEIPT')).header('receipt-id'), 'c');
    assert.equal(await p.quiet(150), true, 'paused: both queues are full');

    const c1 = await RawClient.connect(port, '1.2');
    clients.push(c1);
    c1.write('SUBSCRIBE\nid:1\ndestination:/queue/q1\n\n\0');
    await c1.expect('MESSAGE');
    await c1.expect('MESSAGE');
    assert.equal(await p.quiet(150), true, 'q1 drained, q2 still full: still paused');

    const c2 = await RawClient.connect(port, '1.2');
    clients.push(c2);
    c2.write('SUBSCRIBE\nid:2\ndestination:/queue/q2\n\n\0');
    await c2.expect('MESSAGE');
    await c2.expect('MESSAGE');
    assert.equal((await p.expect('RECEIPT')).header('receipt-id'), 'after');
  } finally {
    for (const c of clients) c.destroy();
    await b.close();
  }
});
