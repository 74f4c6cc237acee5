/**
 * One broker per data directory. Two coilmq processes on the same SQLite database would
 * both load its queues and deliver the same messages twice, so the second one refuses to
 * start, naming the first. The lock is the operating system's (an exclusive SQLite lock on
 * coilmq.lock): a crash (SIGKILL) releases it, so the next start goes ahead; a clean stop
 * removes the owner file that names the holder.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RawClient } from '../helpers/raw-client.js';
import {
  ensureBuilt,
  freePort,
  processTestScope,
  spawnCoilmq,
  startCoilmq,
  within,
  type CoilmqProcess,
} from '../helpers/coilmq-process.js';

const { dataDir, track } = processTestScope('coilmq-lock-');
before(ensureBuilt);

/** Starts coilmq on `dir` on a free port, without waiting for it (it may refuse to start). */
async function spawnOn(dir: string): Promise<CoilmqProcess> {
  const port = await freePort();
  return spawnCoilmq(['-b', '127.0.0.1', '-p', String(port), '--ws-port', '0', '--data-dir', dir]);
}

/** A persistent SEND with a receipt, then a consumer that gets it back: the broker works. */
async function roundTrip(port: number, body: string): Promise<void> {
  const c = track(await RawClient.connect(port, '1.2'));
  c.write(`SEND\ndestination:/queue/lock\nreceipt:r\n\n${body}\0`);
  assert.equal((await c.next()).command, 'RECEIPT');
  c.write('SUBSCRIBE\nid:s\ndestination:/queue/lock\n\n\0');
  const m = await c.next();
  assert.equal(m.command, 'MESSAGE');
  assert.equal(m.body.toString(), body);
}

describe('data directory lock', () => {
  test('a second coilmq on the same data directory exits 1, naming the first; the first keeps serving', async () => {
    const dir = dataDir();
    const first = await startCoilmq(dir);
    const owner = path.join(dir, 'coilmq.lock.owner');
    assert.equal(fs.readFileSync(owner, 'utf8').trim(), String(first.child.pid));

    // Several at once: none of them may get in while the first runs.
    const others = await Promise.all([1, 2, 3].map(() => spawnOn(dir)));
    for (const other of others) {
      const exit = await within(other.exited, 15_000, 'the second coilmq to exit');
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.match(other.stderr(), /in use by another coilmq, process \d+/);
      assert.match(other.stderr(), new RegExp(`process ${first.child.pid}\\b`));
    }
    assert.equal(fs.readFileSync(owner, 'utf8').trim(), String(first.child.pid), 'owner kept');

    await roundTrip(first.port, 'still here');
    assert.deepEqual(await first.kill('SIGTERM'), { code: 0, signal: null });
    assert.equal(fs.existsSync(owner), false, 'a clean stop removes the owner file');
  });

  test('a SIGKILLed coilmq holds nothing: the next start on its data directory goes ahead', async () => {
    const dir = dataDir();
    const first = await startCoilmq(dir);
    await first.kill('SIGKILL');
    const owner = path.join(dir, 'coilmq.lock.owner');
    assert.equal(fs.readFileSync(owner, 'utf8').trim(), String(first.child.pid), 'left behind');

    const next = await startCoilmq(dir);
    assert.equal(fs.readFileSync(owner, 'utf8').trim(), String(next.child.pid));
    await roundTrip(next.port, 'after the crash');
    assert.deepEqual(await next.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('a coilmq.lock that is not a lock coilmq made stops the start, naming the file', async () => {
    const dir = dataDir();
    const lock = path.join(dir, 'coilmq.lock');
    fs.writeFileSync(lock, '12345\n');
    const p = await spawnOn(dir);
    assert.deepEqual(await within(p.exited, 15_000, 'coilmq to exit'), { code: 1, signal: null });
    assert.ok(p.stderr().includes(`${lock} is not a lock coilmq made`), p.stderr());
    assert.equal(fs.readFileSync(lock, 'utf8'), '12345\n', 'left as it was');
  });
});
