import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startBroker } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { needs } from '../helpers/requires.js';

// stomp.py as users run it: Debian's python3-stomp (installed by .ci/run), under the system
// Python, which is where Debian puts the module.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./py/stomppy_client.py', import.meta.url));

interface Seen {
  messages: Array<{ headers: Record<string, string>; body: string }>;
  receipts: string[];
  errors: string[];
}

function runStompPy(port: number, version: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [SCRIPT, String(port), version],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`stomp.py client failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Seen);
      },
    );
  });
}

describe('stomp.py (python3-stomp 8) against coilmq', needs('python3-stomp'), () => {
  for (const version of ['1.2', '1.1', '1.0']) {
    test(`STOMP ${version}: queue and topic with receipts, acknowledged, disconnect with receipt`, async () => {
      const b = await startBroker({ port: 0 });
      try {
        const seen = await runStompPy(b.address().port, version);
        assert.deepEqual(seen.errors, []);
        assert.deepEqual([...seen.receipts].sort(), [
          'ack-q',
          'bye',
          'send-q',
          'send-t',
          'sub-q',
          'sub-t',
        ]);
        const byDest = new Map(seen.messages.map((m) => [m.headers.destination, m]));
        assert.equal(byDest.get('/queue/py')?.body, 'hello queue');
        assert.equal(byDest.get('/queue/py')?.headers['x-custom'], 'a:b'); // E-04 round trip
        assert.equal(byDest.get('/topic/py')?.body, 'hello topic');
        // The ACK was taken: nothing is left on the queue for the next consumer.
        const c = await RawClient.connect(b.address().port, '1.2');
        c.write('SUBSCRIBE\nid:0\ndestination:/queue/py\n\n\0');
        assert.equal(await c.quiet(200), true, 'the acknowledged message is not redelivered');
        c.destroy();
      } finally {
        await b.close();
      }
    });
  }
});
