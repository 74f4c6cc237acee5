/**
 * The `coilmq` command as users run it: `node bin/coilmq.js` (which loads dist/), spawned as a
 * real child process.
 */
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs, { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { makeTestPki } from '../helpers/certs.js';
import { RawClient } from '../helpers/raw-client.js';
import { needs } from '../helpers/requires.js';
import { WsClient } from '../helpers/ws-client.js';
import {
  BIN,
  ROOT,
  freePort,
  watch,
  within,
  type LogEntry,
  type Watched,
} from '../helpers/coilmq-process.js';
import { until } from '../helpers/session.js';
import { ensureBuilt } from './helpers.js';

const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

type Cli = Watched;

const children: ChildProcess[] = [];
const sockets: Array<{ destroy(): void }> = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
});

function tmpDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-cli-'));
  dataDirs.push(dir);
  return dir;
}

const dataDirs: string[] = [];
after(() => {
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

function cli(args: string[]): Cli {
  // Each broker gets a data directory of its own, so none shares (or leaves) ./data.
  const store =
    args.includes('--store') || args.includes('--data-dir') ? [] : ['--data-dir', tmpDataDir()];
  const child = spawn(process.execPath, [BIN, ...args, ...store], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return watch(child);
}

/** Runs the command to completion. */
async function run(
  args: string[],
  ms = 10000,
): Promise<{ code: number | null; out: string; err: string }> {
  const c = cli(args);
  const { code } = await within(c.exited, ms, `coilmq ${args.join(' ')} to exit`);
  return { code, out: c.stdout(), err: c.stderr() };
}

/**
 * Starts `coilmq -b 127.0.0.1 -p <free port>` and waits for "coilmq started". The WebSocket
 * listener (15674 by default) is turned off unless `extra` names a port, so that tests
 * running side by side do not compete for 15674.
 */
async function startCli(
  extra: string[] = [],
): Promise<{ c: Cli; port: number; started: LogEntry }> {
  const port = await freePort();
  const ws = extra.includes('--ws-port') ? [] : ['--ws-port', '0'];
  const c = cli(['-b', '127.0.0.1', '-p', String(port), ...ws, ...extra]);
  const started = await c.waitForLog('coilmq started');
  return { c, port, started };
}

async function connectClient(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port, '1.2');
  sockets.push(client);
  return client;
}

/** SUBSCRIBE + SEND through the running broker and check the MESSAGE. */
async function roundTrip(client: RawClient): Promise<void> {
  client.write('SUBSCRIBE\nid:s1\ndestination:/queue/cli\nreceipt:r1\n\n\0');
  assert.equal((await client.expect('RECEIPT')).header('receipt-id'), 'r1');
  client.write('SEND\ndestination:/queue/cli\nreceipt:r2\ncontent-type:text/plain\n\nvia cli\0');
  const frames = [await client.next(), await client.next()];
  const receipt = frames.find((f) => f.command === 'RECEIPT');
  const msg = frames.find((f) => f.command === 'MESSAGE');
  assert.equal(receipt?.header('receipt-id'), 'r2');
  assert.ok(msg, 'MESSAGE delivered');
  assert.equal(msg.body.toString(), 'via cli');
  assert.equal(msg.header('destination'), '/queue/cli');
  assert.equal(msg.header('subscription'), 's1');
}

describe('coilmq CLI', () => {
  before(ensureBuilt);

  test('package.json: bin and npm start run bin/coilmq.js', () => {
    assert.equal(PKG.bin.coilmq, './bin/coilmq.js');
    assert.match(PKG.scripts.start ?? '', /^node bin\/coilmq\.js\b/);
    const src = readFileSync(BIN, 'utf8');
    assert.ok(src.startsWith('#!/usr/bin/env node\n'), 'shebang');
    assert.ok((statSync(BIN).mode & 0o111) !== 0, 'bin/coilmq.js is executable');
  });

  test('npm start -- --version runs the binary', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('npm', ['start', '--silent', '--', '--version'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), PKG.version);
  });

  test('--version prints the package version and exits 0', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), PKG.version);
  });

  test('--help lists the options, the default port 61613, and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Usage: coilmq/);
    assert.match(r.out, /-b, --host <addr>/);
    assert.match(r.out, /-p, --port <port>/);
    assert.match(r.out, /--debug/);
    assert.match(r.out, /--version/);
    assert.match(r.out, /-p, --port <port>.*\(default: 61613\)/);
    assert.match(r.out, /-b, --host <addr>.*\(default: "127\.0\.0\.1"\)/);
  });

  for (const bad of ['abc', '70000', '-1', '1.5']) {
    test(`bad port (-p ${bad}) exits 2 with a message naming the flag`, async () => {
      const r = await run(['-p', bad]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /^coilmq: --port: expected a port number \(0-65535\), got /);
      assert.ok(r.err.includes(bad), r.err);
      assert.equal(r.out, '', 'did not start');
    });
  }

  test('unknown option exits non-zero', async () => {
    const r = await run(['--no-such-option']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /unknown option/i);
  });

  test('port already in use: exits 1 with one line naming the port and its flag; no data directory left', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const data = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-inuse-')), 'data');
    dataDirs.push(path.dirname(data));
    try {
      const { port } = srv.address() as net.AddressInfo;
      const r = await run([
        '-b',
        '127.0.0.1',
        '-p',
        String(port),
        '--ws-port',
        '0',
        '--data-dir',
        data,
      ]);
      assert.equal(r.code, 1);
      assert.equal(
        r.err,
        `coilmq: port ${port} is in use (EADDRINUSE), by another broker perhaps: choose another with -p/--port\n`,
      );
      assert.match(r.out, /"code":"EADDRINUSE"/);
      assert.doesNotMatch(r.out, /"stack"/, 'no stack trace for a port in use');
      assert.equal(fs.existsSync(data), false, 'the data directory it made is gone');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('--log-format pretty: short lines and a banner with every listener, the data and how to stop', async () => {
    const c = cli([
      '-b',
      '127.0.0.1',
      '-p',
      '0',
      '--ws-port',
      String(await freePort()),
      '--log-format',
      'pretty',
    ]);
    try {
      await until(() => c.stdout().includes('Ctrl-C to stop.'), 'the banner');
      const out = c.stdout();
      assert.match(
        out,
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening host=127\.0\.0\.1 port=\d+ transport=tcp$/m,
      );
      assert.match(out, new RegExp(`coilmq ${PKG.version.replace(/\./g, '\\.')} is running`));
      assert.match(out, /^ {2}STOMP +127\.0\.0\.1:\d+ \(tcp\)$/m);
      assert.match(out, /^ {2}WebSocket +ws:\/\/127\.0\.0\.1:\d+\/ws$/m);
      assert.match(out, /^ {2}Messages +\/.*coilmq\.db \(SQLite\)$/m);
      assert.doesNotMatch(out, /^\{/m, 'no JSON line');
      assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
    } finally {
      await c.kill('SIGKILL');
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`serves STOMP, then ${signal}: client gets ERROR SERVER_SHUTDOWN, exit code 0`, async () => {
      const { c, port, started } = await startCli();
      assert.equal(started.port, port);
      assert.equal(started.host, '127.0.0.1');
      assert.equal(started.version, PKG.version);
      assert.equal(started.name, 'coilmq');
      assert.equal(started.level, 30, 'info');

      const client = await connectClient(port);
      await roundTrip(client);

      assert.ok(c.child.kill(signal));
      const err = await client.expect('ERROR');
      assert.equal(err.header('code'), 'SERVER_SHUTDOWN');
      await client.waitClosed();
      const exit = await within(c.exited, 5000, 'exit after signal');
      assert.deepEqual(exit, { code: 0, signal: null });
      const shutting = c.logs.find((l) => l.msg === 'shutting down');
      assert.equal(shutting?.signal, signal);
      assert.equal(c.stderr(), '');
    });
  }

  test('signal with no clients connected exits 0 promptly', async () => {
    const { c } = await startCli();
    const t0 = Date.now();
    c.child.kill('SIGTERM');
    const exit = await within(c.exited, 5000, 'exit');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  test('connections are logged at info; --debug adds debug lines, default has none', async () => {
    const dbg = await startCli(['--debug']);
    const config = await dbg.c.waitForLog('configuration');
    assert.equal(config.level, 20);
    const c1 = await connectClient(dbg.port);
    const open = await dbg.c.waitForLog('connection open');
    assert.equal(open.level, 30);
    assert.equal(open.transport, 'tcp');
    assert.match(String(open.remote), /127\.0\.0\.1/);
    c1.destroy();
    const closed = await dbg.c.waitForLog('connection closed');
    assert.equal(closed.level, 30);
    assert.equal(closed.reason, 'peer closed');

    const plain = await startCli();
    const c2 = await connectClient(plain.port);
    await roundTrip(c2);
    assert.equal(
      plain.c.logs.some((l) => l.level < 30),
      false,
      'no debug lines without --debug',
    );

    dbg.c.child.kill('SIGTERM');
    plain.c.child.kill('SIGTERM');
    assert.equal((await within(dbg.c.exited, 5000, 'exit')).code, 0);
    assert.equal((await within(plain.c.exited, 5000, 'exit')).code, 0);
  });
});

describe('coilmq CLI: WebSocket and TLS', () => {
  test('--help lists the WebSocket and TLS flags with their defaults', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.err);
    const out = r.out.replace(/\s+/g, ' ');
    assert.match(out, /--ws-port <port> .*\(default: 15674\)/);
    assert.match(out, /--ws-path <path> .*\(default: "\/ws"\)/);
    assert.match(out, /--tls-port <port> .*\(default: 61614\)/);
    for (const flag of [
      '--tls-cert <file>',
      '--tls-key <file>',
      '--tls-ca <file>',
      '--wss-port <port>',
      '--tls-require-client-cert',
      '--allowed-origins <list>',
    ]) {
      assert.ok(out.includes(flag), flag);
    }
  });

  test('--ws-port and --ws-path: a WebSocket client does a round trip', async () => {
    const wsPort = await freePort();
    const { c, started } = await startCli(['--ws-port', String(wsPort), '--ws-path', '/stomp']);
    assert.equal(started.wsPort, wsPort);
    const client = await WsClient.connect(`ws://127.0.0.1:${wsPort}/stomp`);
    sockets.push(client);
    assert.equal(client.ws.protocol, 'v12.stomp');
    client.send('SUBSCRIBE\nid:s\ndestination:/topic/cli\nreceipt:r\n\n\0');
    await client.expect('RECEIPT');
    client.send('SEND\ndestination:/topic/cli\n\nover ws\0');
    assert.equal((await client.expect('MESSAGE')).body.toString(), 'over ws');
    c.child.kill('SIGTERM');
    assert.equal((await client.expect('ERROR')).header('code'), 'SERVER_SHUTDOWN');
    assert.equal((await within(c.exited, 5000, 'exit')).code, 0);
  });

  test('--ws-port 0 turns WebSocket off', async () => {
    const { started } = await startCli();
    assert.equal(started.wsPort, undefined);
  });

  test(
    '--tls-cert, --tls-key, --tls-ca, --tls-port, --wss-port, --tls-require-client-cert',
    needs('openssl'),
    async () => {
      const pki = makeTestPki();
      try {
        const [tlsPort, wssPort] = [await freePort(), await freePort()];
        const { c, started } = await startCli([
          '--tls-cert',
          pki.server.certFile,
          '--tls-key',
          pki.server.keyFile,
          '--tls-ca',
          pki.ca.certFile,
          '--tls-port',
          String(tlsPort),
          '--wss-port',
          String(wssPort),
          '--tls-require-client-cert',
          '--debug',
        ]);
        assert.equal(started.tlsPort, tlsPort);
        assert.equal(started.wssPort, wssPort);
        const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
          const s = tls.connect(
            {
              host: '127.0.0.1',
              port: tlsPort,
              servername: 'localhost',
              ca: pki.ca.cert,
              cert: pki.alice.cert,
              key: pki.alice.key,
            },
            () => resolve(s),
          );
          s.once('error', reject);
        });
        const client = RawClient.wrap(socket);
        sockets.push(client);
        client.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
        await client.expect('CONNECTED');
        const opened = await c.waitForLog('connection open');
        assert.equal(opened.transport, 'tls');
        const ws = await WsClient.connect(
          `wss://localhost:${wssPort}/ws`,
          '1.2',
          {},
          ['v12.stomp'],
          {
            ca: pki.ca.cert,
            cert: pki.alice.cert,
            key: pki.alice.key,
          },
        );
        sockets.push(ws);
        c.child.kill('SIGTERM');
        assert.equal((await within(c.exited, 5000, 'exit')).code, 0);
      } finally {
        pki.remove();
      }
    },
  );

  for (const [args, message] of [
    [['--tls-cert', 'x.pem'], /--tls-cert: needs --tls-key too/],
    [['--wss-port', '8443'], /--wss-port: needs --tls-cert and --tls-key/],
    [['--tls-port', '8443'], /--tls-port: needs --tls-cert and --tls-key/],
    [
      ['--tls-cert', 'no-such.pem', '--tls-key', 'no-such.key'],
      /--tls-cert: cannot read no-such\.pem: ENOENT/,
    ],
    [
      ['--tls-cert', 'a', '--tls-key', 'b', '--tls-require-client-cert'],
      /--tls-require-client-cert: needs --tls-ca/,
    ],
    [['--ws-path', 'ws'], /--ws-path: expected a path starting with '\/'/],
  ] as Array<[string[], RegExp]>) {
    test(`coilmq ${args.join(' ')}: exits 2 with a message`, async () => {
      const r = await run(['-p', '0', '--ws-port', '0', ...args]);
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, message);
      assert.equal(r.out, '', 'did not start');
    });
  }
});
