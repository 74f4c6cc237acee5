/**
 * Configuration through the real `coilmq` binary: a YAML file (-c), COILMQ_ environment
 * variables and flags; bad configurations exit 2 with a message naming the key.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  ensureBuilt,
  freePort,
  login,
  ROOT,
  roundTrip,
  runCli,
  startCli,
  tempDir,
  writeFile,
} from '../cli/helpers.js';

before(ensureBuilt);

describe('coilmq -c FILE', () => {
  test('a good configuration file is used: listeners, store, limits, schedulers', async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = writeFile(
      dir,
      'coilmq.yaml',
      `# a test configuration
listeners:
  host: 127.0.0.1
  port: ${port}
  wsPort: 0
store:
  kind: memory
limits:
  maxFrameSize: 4096
  maxHeaders: 20
schedulers:
  subscriberScheduler: round-robin
logging:
  level: info
shutdownTimeout: 3000
`,
    );
    const { c, started } = await startCli(['-c', file], { flagPort: false, dataDir: false });
    assert.equal(started.port, port);
    assert.equal(started.config, file);
    assert.deepEqual(started.store, { kind: 'memory' });
    const limits = started.limits as Record<string, number>;
    assert.equal(limits.maxFrameSize, 4096);
    assert.equal(limits.maxHeaders, 20);
    assert.equal(limits.maxConnections, 10000, 'defaults for the rest');
    assert.deepEqual(started.schedulers, {
      subscriberScheduler: 'round-robin',
      queueScheduler: 'random',
    });
    assert.equal(started.shutdownTimeout, 3000);
    // The limit is in force: a frame over 4096 bytes is refused.
    const client = await login(port);
    await roundTrip(client);
    client.write(`SEND\ndestination:/queue/big\n\n${'x'.repeat(5000)}\0`);
    const err = await client.expect('ERROR');
    assert.equal(err.header('code'), 'FRAME_TOO_LARGE');
    assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('coilmq.example.yaml starts the broker as is (with the port and data directory moved)', async () => {
    const { c, started } = await startCli(['-c', path.join(ROOT, 'coilmq.example.yaml')]);
    assert.equal((started.store as { kind: string }).kind, 'sqlite');
    assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('coilmq.example.yaml copied as is, with --store memory: starts, the SQLite settings ignored with a note', async () => {
    const { c, started } = await startCli([
      '-c',
      path.join(ROOT, 'coilmq.example.yaml'),
      '--store',
      'memory',
    ]);
    assert.equal((started.store as { kind: string }).kind, 'memory');
    const example = path.join(ROOT, 'coilmq.example.yaml');
    const line = fs.readFileSync(example, 'utf8').split('\n').indexOf('  dataDir: ./data') + 1;
    const note = await c.waitForLog(
      `${example}:${line}:3: store.dataDir: ignored, the store is memory (--store)`,
    );
    assert.equal(note.level, 40, 'a warning');
    assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('COILMQ_CONFIG names the file when -c is not given', async () => {
    const port = await freePort();
    const file = writeFile(tempDir(), 'env.yaml', `listeners:\n  port: ${port}\n  wsPort: 0\n`);
    const { c, started } = await startCli([], {
      flagPort: false,
      env: { COILMQ_CONFIG: file },
    });
    assert.equal(started.port, port);
    assert.equal(started.config, file);
    await c.kill('SIGTERM');
  });
});

describe('precedence: flags > environment > file', () => {
  test('port: -p wins over COILMQ_PORT, which wins over the file', async () => {
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const file = writeFile(
      tempDir(),
      'p.yaml',
      `listeners:\n  port: ${filePort}\n  wsPort: 0\nlimits:\n  maxHeaders: 11\n`,
    );
    const env = { COILMQ_PORT: String(envPort), COILMQ_MAX_HEADERS: '12' };

    const onlyFile = await startCli(['-c', file], { flagPort: false });
    assert.equal(onlyFile.started.port, filePort);
    assert.equal((onlyFile.started.limits as Record<string, number>).maxHeaders, 11);

    const withEnv = await startCli(['-c', file], { flagPort: false, env });
    assert.equal(withEnv.started.port, envPort);
    assert.equal((withEnv.started.limits as Record<string, number>).maxHeaders, 12);

    const withFlag = await startCli(['-c', file, '-p', String(flagPort), '--max-headers', '13'], {
      flagPort: false,
      env,
    });
    assert.equal(withFlag.started.port, flagPort);
    assert.equal((withFlag.started.limits as Record<string, number>).maxHeaders, 13);

    for (const x of [onlyFile, withEnv, withFlag]) {
      assert.equal((await x.c.kill('SIGTERM')).code, 0);
    }
  });

  test('a flag fixes a bad value from the environment; a bad flag is still an error', async () => {
    const { c } = await startCli([], { env: { COILMQ_LOG_LEVEL: 'debug' } });
    await c.waitForLog('configuration'); // debug, from the environment
    await c.kill('SIGTERM');
    const r = await runCli(['--log-level', 'loud'], { env: { COILMQ_LOG_LEVEL: 'debug' } });
    assert.equal(r.code, 2);
    assert.match(r.err, /--log-level: expected one of fatal, error, warn, info, debug/);
  });
});

describe('bad configurations exit 2 with a message naming the key', () => {
  const files: Array<[string, string, RegExp]> = [
    ['port out of range', 'listeners:\n  port: 65536\n', /listeners\.port: expected a port number/],
    [
      'unknown key',
      'listeners:\n  prot: 1\n',
      /unknown key listeners\.prot \(did you mean port\?\)/,
    ],
    ['unknown section', 'database:\n  url: x\n', /unknown key database/],
    [
      'limit',
      'limits:\n  maxFrameSize: big\n',
      /limits\.maxFrameSize: expected a positive integer, got "big"/,
    ],
    ['store kind', 'store:\n  kind: disk\n', /store\.kind: expected one of sqlite, memory/],
    [
      'scheduler',
      'schedulers:\n  queueScheduler: fifo\n',
      /schedulers\.queueScheduler: expected one of random, round-robin/,
    ],
    [
      'sync mode',
      'store:\n  synchronous: sometimes\n',
      /store\.synchronous: expected one of full, normal/,
    ],
    [
      'shutdown timeout',
      'shutdownTimeout: -5\n',
      /shutdownTimeout: expected a non-negative integer/,
    ],
    [
      'acl',
      'acl:\n  - users: [a]\n    destinations: [/q]\n    allow: [admin]\n',
      /acl\[0\]\.allow\[0\]: expected one of read, write/,
    ],
    [
      'tls',
      'listeners:\n  tls:\n    key: k.pem\n',
      /listeners\.tls\.key: needs listeners\.tls\.cert too/,
    ],
    ['YAML syntax', 'listeners: [\n', /not valid YAML/],
  ];
  for (const [name, text, expected] of files) {
    test(`file: ${name}`, async () => {
      const file = writeFile(tempDir(), 'bad.yaml', text);
      const r = await runCli(['-c', file]);
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, expected);
      assert.ok(r.err.includes(file), `names the file: ${r.err}`);
      assert.equal(r.out, '', 'did not start');
    });
  }

  test('a missing configuration file', async () => {
    const missing = path.join(tempDir(), 'nope.yaml');
    const r = await runCli(['-c', missing]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      `coilmq: --config ${missing}: cannot read the configuration file: no such file\n`,
    );
    const e = await runCli([], { env: { COILMQ_CONFIG: missing } });
    assert.equal(e.code, 2);
    assert.match(e.err, /COILMQ_CONFIG.*no such file/);
  });

  test('environment: a bad value and an unknown variable', async () => {
    const r = await runCli([], { env: { COILMQ_MAX_FRAME_SIZE: '-1', COILMQ_PROT: '1' } });
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /environment variable COILMQ_MAX_FRAME_SIZE: expected a positive integer, got -1/,
    );
    assert.match(
      r.err,
      /environment variable COILMQ_PROT: unknown setting \(did you mean COILMQ_PORT\?\)/,
    );
    assert.equal(r.out, '');
  });

  test('flags: a limit, a store setting, a flag that needs another', async () => {
    for (const [args, expected] of [
      [['--max-frame-size', '0'], /--max-frame-size: expected a positive integer, got 0/],
      [['--sync', 'always'], /--sync: expected one of full, normal, got "always"/],
      [['--heartbeat-grace', '0.5'], /--heartbeat-grace: expected a number of at least 1/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, expected);
    }
  });

  test('a users file that cannot be read, a log file that cannot be opened', async () => {
    const dir = tempDir();
    const users = await runCli(['--users', path.join(dir, 'none'), '--store', 'memory']);
    assert.equal(users.code, 2);
    assert.match(users.err, /--users: cannot read users file .*none: ENOENT/);
    const bad = writeFile(dir, 'bad-users', 'alice\n');
    const malformed = await runCli([
      '-c',
      writeFile(dir, 'u.yaml', `auth:\n  usersFile: ${bad}\n`),
    ]);
    assert.equal(malformed.code, 2);
    assert.match(
      malformed.err,
      /u\.yaml:2:3: auth\.usersFile: .*bad-users:1: expected login:scrypt/,
    );
    const log = await runCli(['--logfile', path.join(dir, 'no', 'such', 'dir.log')]);
    assert.equal(log.code, 2);
    assert.match(log.err, /--logfile: cannot open .*dir\.log: ENOENT/);
  });

  test('-d/--daemon (CoilMQ) is refused with a pointer to the service manager', async () => {
    const r = await runCli(['-d']);
    assert.equal(r.code, 2);
    assert.match(r.err, /service manager/);
  });
});
