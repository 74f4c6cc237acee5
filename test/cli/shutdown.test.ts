/**
 * Stopping the real `coilmq` binary, its pidfile and its log file: SIGTERM with clients
 * connected finishes pending commits and sends their receipts before the ERROR; the
 * shutdown timeout; a second signal; --pidfile; --logfile (JSON lines, SIGHUP reopens it);
 * SIGTERM to the npm process that started it (`npm start`, `npx coilmq`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { watch } from '../helpers/coilmq-process.js';
import { RawClient } from '../helpers/raw-client.js';
import {
  ensureBuilt,
  freePort,
  login,
  roundTrip,
  spawnCli,
  startCli,
  ROOT,
  tempDir,
  track,
  within,
  type LogEntry,
} from './helpers.js';

before(ensureBuilt);

/** A client that never closes its side: the broker has to drop it. */
async function halfOpenClient(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  track(s);
  s.on('error', () => {});
  s.resume();
  await new Promise<void>((r) => s.once('connect', r));
  s.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
  await new Promise<void>((r) => s.once('data', () => r()));
  return s;
}

describe('SIGTERM', () => {
  test('pending commits finish and their receipts go out before ERROR SERVER_SHUTDOWN; the messages are there after a restart', async () => {
    const dataDir = tempDir('coilmq-data-');
    // Commits wait 1.5 s: the SENDs below are still uncommitted when SIGTERM arrives.
    const first = await startCli(['--data-dir', dataDir, '--batch-window-ms', '1500']);
    const producer = await login(first.port);
    const idle = await login(first.port, 'idle');
    const N = 20;
    let frames = '';
    for (let i = 0; i < N; i++) {
      frames += `SEND\ndestination:/queue/keep\nreceipt:r${i}\n\nm${i}\0`;
    }
    producer.write(frames);
    assert.equal(await producer.quiet(300), true, 'no RECEIPT before the commit');

    first.c.child.kill('SIGTERM');
    for (let i = 0; i < N; i++) {
      const f = await producer.next();
      assert.equal(f.command, 'RECEIPT', `frame ${i}: ${f.command} ${f.header('message')}`);
      assert.equal(f.header('receipt-id'), `r${i}`);
    }
    assert.equal((await producer.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
    assert.equal((await idle.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
    await producer.waitClosed();
    await idle.waitClosed();
    assert.deepEqual(await within(first.c.exited, 10_000, 'exit'), { code: 0, signal: null });
    const closed = first.c.logs.filter((l) => l.msg === 'connection closed');
    assert.deepEqual(
      closed.map((l) => l.reason),
      ['SERVER_SHUTDOWN', 'SERVER_SHUTDOWN'],
    );

    const second = await startCli(['--data-dir', dataDir]);
    const opened = await second.c.waitForLog('store opened');
    assert.equal(opened.messages, N);
    const consumer = await login(second.port);
    consumer.write('SUBSCRIBE\nid:s\ndestination:/queue/keep\n\n\0');
    for (let i = 0; i < N; i++) {
      assert.equal((await consumer.expect('MESSAGE')).body.toString(), `m${i}`);
    }
    assert.equal((await second.c.kill('SIGTERM')).code, 0);
  });

  test('connections still open after --shutdown-timeout are dropped, and the exit is 0', async () => {
    const { c, port } = await startCli([
      '--store',
      'memory',
      '--close-linger',
      '60000',
      '--shutdown-timeout',
      '500',
    ]);
    await halfOpenClient(port);
    const t0 = Date.now();
    const exit = await c.kill('SIGTERM', 10_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    const took = Date.now() - t0;
    assert.ok(took >= 450 && took < 5000, `took ${took} ms`);
    const dropped = c.logs.find(
      (l) => l.msg === 'shutdown timeout: dropping the connections still open',
    );
    assert.equal(dropped?.connections, 1);
    assert.equal(dropped?.level, 40);
  });

  test('a second signal during the stop exits at once with code 130, removing the pidfile', async () => {
    const pidfile = path.join(tempDir(), 'coilmq.pid');
    const { c, port } = await startCli([
      '--store',
      'memory',
      '--close-linger',
      '60000',
      '--shutdown-timeout',
      '60000',
      '--pidfile',
      pidfile,
    ]);
    await halfOpenClient(port);
    c.child.kill('SIGTERM');
    await c.waitForLog('shutting down');
    assert.equal(
      await Promise.race([c.exited.then(() => 'exited'), delay(300, 'running')]),
      'running',
    );
    const t0 = Date.now();
    const exit = await c.kill('SIGINT', 5000);
    assert.deepEqual(exit, { code: 130, signal: null });
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(c.logs.some((l) => l.msg === 'second signal: exiting now'));
    assert.equal(fs.existsSync(pidfile), false, 'pidfile removed');
  });
});

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms));
}

describe('--pidfile', () => {
  test('written at start, removed at exit; a second instance on it is refused', async () => {
    const pidfile = path.join(tempDir(), 'coilmq.pid');
    const { c } = await startCli(['--store', 'memory', '--pidfile', pidfile]);
    assert.equal(fs.readFileSync(pidfile, 'utf8'), `${c.child.pid}\n`);

    const port = await freePort();
    const other = spawnCli([
      '-p',
      String(port),
      '--ws-port',
      '0',
      '--store',
      'memory',
      '--pidfile',
      pidfile,
    ]);
    const exit = await within(other.exited, 10_000, 'second instance to exit');
    assert.equal(exit.code, 1);
    assert.match(other.stderr(), new RegExp(`already running as process ${c.child.pid}`));
    assert.equal(fs.readFileSync(pidfile, 'utf8'), `${c.child.pid}\n`, 'left alone');

    assert.equal((await c.kill('SIGTERM')).code, 0);
    assert.equal(fs.existsSync(pidfile), false);
  });

  test('a stale pidfile (its process is gone) is replaced', async () => {
    const pidfile = path.join(tempDir(), 'coilmq.pid');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    fs.writeFileSync(pidfile, `${gone}\n`);
    const { c } = await startCli(['--store', 'memory', '--pidfile', pidfile]);
    assert.equal(fs.readFileSync(pidfile, 'utf8'), `${c.child.pid}\n`);
    await c.kill('SIGTERM');
    assert.equal(fs.existsSync(pidfile), false);
  });
});

/** The JSON lines of a log file (every line must parse). */
function readLog(file: string): LogEntry[] {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogEntry);
}

async function waitForFileLog(file: string, msg: string, ms = 10_000): Promise<LogEntry> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = readLog(file).find((l) => l.msg === msg);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no "${msg}" in ${file}`);
    await delay(50, undefined);
  }
}

describe('--logfile', () => {
  test('JSON lines go to the file, not to standard output; nothing per message at info; flushed at exit', async () => {
    const dir = tempDir();
    const log = path.join(dir, 'coilmq.log');
    const port = await freePort();
    const c = spawnCli(['-p', String(port), '--ws-port', '0', '--store', 'memory', '-l', log]);
    const started = await waitForFileLog(log, 'coilmq started');
    assert.equal(started.port, port);
    assert.equal(started.level, 30);

    const client = await login(port, 'alice', 'pw');
    await roundTrip(client);
    await waitForFileLog(log, 'connection open');
    // A hundred messages write no log line at info.
    const before = readLog(log).length;
    client.write('SUBSCRIBE\nid:m\ndestination:/queue/many\n\n\0');
    for (let i = 0; i < 100; i++) client.write(`SEND\ndestination:/queue/many\n\nm${i}\0`);
    for (let i = 0; i < 100; i++) await client.expect('MESSAGE');
    await delay(200, undefined);
    assert.equal(readLog(log).length, before);

    client.write('DISCONNECT\nreceipt:bye\n\n\0');
    await client.expect('RECEIPT');
    const closed = await waitForFileLog(log, 'connection closed');
    assert.equal(closed.login, 'alice');
    assert.equal(closed.reason, 'DISCONNECT');
    assert.match(String(closed.remote), /127\.0\.0\.1/);

    // logrotate: the file is moved, SIGHUP makes coilmq write to a new one.
    fs.renameSync(log, `${log}.1`);
    c.child.kill('SIGHUP');
    await waitForFileLog(log, 'reloading');

    assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
    assert.equal(c.stdout(), '', 'nothing on standard output');
    const after = readLog(log).map((l) => l.msg);
    assert.ok(after.includes('shutting down'));
    assert.equal(after[after.length - 1], 'exiting', 'the last line is flushed before exit');
    assert.ok(readLog(`${log}.1`).some((l) => l.msg === 'coilmq started'));
  });

  test('a connection refused during shutdown, a slow consumer and a lost client are logged', async () => {
    const { c, port } = await startCli([
      '--store',
      'memory',
      '--slow-consumer-max-bytes',
      '1',
      '--high-water-mark',
      '1',
    ]);
    // A topic subscriber that does not read is disconnected as a slow consumer.
    const slow = await RawClient.open(port);
    track(slow);
    slow.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
    await slow.expect('CONNECTED');
    slow.write('SUBSCRIBE\nid:t\ndestination:/topic/firehose\nreceipt:r\n\n\0');
    await slow.expect('RECEIPT');
    slow.socket.pause();
    const producer = await login(port);
    for (let i = 0; i < 200; i++) {
      producer.write(`SEND\ndestination:/topic/firehose\n\n${'x'.repeat(10_000)}\0`);
    }
    const warn = await c.waitForLog('sending ERROR', (l) => l.code === 'SLOW_CONSUMER');
    assert.equal(warn.level, 40);
    const gone = await login(port, 'gone');
    gone.destroy();
    const lost = await c.waitForLog('connection closed', (l) => l.login === 'gone');
    assert.equal(lost.reason, 'peer closed');
    await c.kill('SIGTERM');
  });
});

describe('started through npm', () => {
  /** Whether a process still runs. */
  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  for (const [name, launcher] of [
    ['npm start', ['npm', 'start', '--']],
    ['npx coilmq', ['npx', '--no-install', 'coilmq']],
  ] as const) {
    test(`SIGTERM to \`${name}\` (the npm process) stops coilmq too`, async () => {
      const child = spawn(
        launcher[0]!,
        [...launcher.slice(1), '-b', '127.0.0.1', '-p', '0', '--ws-port', '0', '--store', 'memory'],
        // No lifecycle scripts: in a fresh clone npx would otherwise run `prepare` (a build)
        // under the other test files that run from dist/.
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, npm_config_ignore_scripts: 'true' },
        },
      );
      const c = watch(child);
      let brokerPid = 0;
      try {
        const started = await c.waitForLog('coilmq started');
        brokerPid = started.pid as number;
        assert.notEqual(brokerPid, child.pid, 'coilmq runs under the launcher');
        child.kill('SIGTERM');
        await c.exited;
        const deadline = Date.now() + 10_000;
        while (alive(brokerPid) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.equal(alive(brokerPid), false, 'coilmq stopped with its launcher');
      } finally {
        if (brokerPid !== 0 && alive(brokerPid)) process.kill(brokerPid, 'SIGKILL');
        child.kill('SIGKILL');
      }
    });
  }
});
