/**
 * Users and permissions through the real `coilmq` binary: `coilmq passwd`, logins against
 * the users file, anonymous access, access rules from the configuration file, and SIGHUP
 * reloading the users file. The rules themselves are tested at library level (test/auth/).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  BIN,
  ensureBuilt,
  login,
  refused,
  roundTrip,
  runCli,
  setPasscode,
  startCli,
  tempDir,
  tryLogin,
  within,
  writeFile,
} from './helpers.js';

before(ensureBuilt);

/** Flags every broker here gets: in memory, quick refusals. */
const QUICK = ['--store', 'memory', '--auth-failure-delay-ms', '50'];

describe('coilmq passwd', () => {
  test('reads the passcode from standard input; the user can log in with it, no other', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 's3cret');
    const text = fs.readFileSync(users, 'utf8');
    assert.match(text, /^alice:scrypt\$16384\$8\$1\$[^:]+\$[^:]+\n$/);
    assert.ok(!text.includes('s3cret'), 'only the hash is stored');
    assert.equal(fs.statSync(users).mode & 0o777, 0o600);

    const { c, port } = await startCli(['--users', users, ...QUICK]);
    const alice = await login(port, 'alice', 's3cret');
    await roundTrip(alice);
    const wrong = await refused(port, 'alice', 's3cret2');
    assert.match(wrong.header('message') ?? '', /AUTH_FAILED/);
    await refused(port, 'Alice', 's3cret'); // logins are case-sensitive
    await refused(port, 'mallory', 's3cret'); // unknown user
    await refused(port, 'alice'); // no passcode
    // Failures are logged with the remote address.
    const logged = await c.waitForLog('sending ERROR', (l) => l.code === 'AUTH_FAILED');
    assert.match(String(logged.remote), /127\.0\.0\.1/);
    assert.equal(logged.level, 30);
    assert.equal((await c.kill('SIGTERM')).code, 0);
  });

  test('only the first line of standard input is the passcode', async () => {
    const users = path.join(tempDir(), 'users');
    const r = await runCli(['passwd', users, 'bob'], { stdin: 'first line\r\nsecond line\n' });
    assert.equal(r.code, 0, r.err);
    const { port } = await startCli(['--users', users, ...QUICK]);
    await login(port, 'bob', 'first line');
    await refused(port, 'bob', 'second line');
  });

  test('changing a passcode keeps the other users; --groups sets groups', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 'one');
    await setPasscode(users, 'bob', 'two', ['--groups', 'ops,dev']);
    await setPasscode(users, 'alice', 'three');
    const lines = fs.readFileSync(users, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^bob:scrypt\$.*:ops,dev$/);
    const { port } = await startCli(['--users', users, ...QUICK]);
    await refused(port, 'alice', 'one');
    await login(port, 'alice', 'three');
    await login(port, 'bob', 'two');
  });

  test('refuses an empty passcode and a login with a colon (exit 1, file untouched)', async () => {
    const dir = tempDir();
    const users = path.join(dir, 'users');
    const empty = await runCli(['passwd', users, 'alice'], { stdin: '\n' });
    assert.equal(empty.code, 1);
    assert.match(empty.err, /passcode must not be empty/);
    const colon = await runCli(['passwd', users, 'a:b'], { stdin: 'x\n' });
    assert.equal(colon.code, 1);
    assert.match(colon.err, /must not contain ":"/);
    assert.equal(fs.existsSync(users), false);
    const usage = await runCli(['passwd', users]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /missing required argument 'user'/);
  });

  test("E-05: a passcode containing ':' and '\\' works as written", async () => {
    const users = path.join(tempDir(), 'users');
    const passcode = 'a:b\\c:\\\\d';
    await setPasscode(users, 'eve', passcode);
    // CONNECT headers are not unescaped: the bytes after the first colon are the passcode.
    const plain = await startCli(['--users', users, ...QUICK]);
    await login(plain.port, 'eve', passcode);
    await refused(plain.port, 'eve', 'a\\cb\\\\c\\c\\\\\\\\d');
    // With --decode-connect-escapes, a client that escapes its passcode gets in too.
    const decoding = await startCli(['--users', users, '--decode-connect-escapes', ...QUICK]);
    await login(decoding.port, 'eve', 'a\\cb\\\\c\\c\\\\\\\\d');
  });

  test('a refusal comes after the configured delay', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 'pw');
    const { port } = await startCli([
      '--users',
      users,
      '--store',
      'memory',
      '--auth-failure-delay-ms',
      '400',
    ]);
    const t0 = Date.now();
    await refused(port, 'alice', 'nope');
    assert.ok(Date.now() - t0 >= 350, `refused after ${Date.now() - t0} ms`);
  });
});

/**
 * `coilmq passwd` on a terminal: run under script(1), which gives it a pseudo-terminal;
 * each answer is typed when its prompt appears.
 */
function passwdOnTerminal(
  file: string,
  user: string,
  answers: string[],
): Promise<{ code: number | null; out: string }> {
  const command = [process.execPath, BIN, 'passwd', file, user].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let next = 0;
  const prompts = [/New passcode for \S+: $/, /Again: $/];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (next < answers.length && prompts[next]!.test(out))
      child.stdin.write(`${answers[next++]}\r`);
  });
  child.stderr.resume();
  return within(
    new Promise((resolve) => child.on('exit', (code) => resolve({ code, out }))),
    15_000,
    'coilmq passwd on a terminal',
  );
}

describe('coilmq passwd on a terminal', () => {
  test('asks twice without echo; the passcode works', async () => {
    const users = path.join(tempDir(), 'users');
    const r = await passwdOnTerminal(users, 'carol', ['tty:pa\\ss', 'tty:pa\\ss']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /New passcode for carol: /);
    assert.ok(!r.out.includes('tty:pa'), `the passcode is not echoed: ${r.out}`);
    const { port } = await startCli(['--users', users, ...QUICK]);
    await login(port, 'carol', 'tty:pa\\ss');
  });

  test('two different answers change nothing (exit 1)', async () => {
    const users = path.join(tempDir(), 'users');
    const r = await passwdOnTerminal(users, 'carol', ['one', 'two']);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /the passcodes do not match/);
    assert.equal(fs.existsSync(users), false);
  });
});

describe('anonymous access', () => {
  test('off by default with a users file; --anonymous lets clients without a login in', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 'pw');
    const closed = await startCli(['--users', users, ...QUICK]);
    await refused(closed.port);
    await refused(closed.port, '', '');
    await login(closed.port, 'alice', 'pw');

    const open = await startCli(['--users', users, '--anonymous', ...QUICK]);
    await roundTrip(await login(open.port));
    await login(open.port, 'alice', 'pw');
    await refused(open.port, 'alice', 'wrong'); // a login given must still be right
    await refused(open.port, 'nobody', 'pw');
    assert.deepEqual(open.started.auth, {
      usersFile: users,
      users: 1,
      anonymous: true,
      aclRules: 0,
    });
  });

  test('anonymous: true in the file, --no-anonymous on the command line wins', async () => {
    const dir = tempDir();
    const users = path.join(dir, 'users');
    await setPasscode(users, 'alice', 'pw');
    const file = writeFile(dir, 'c.yaml', `auth:\n  usersFile: ${users}\n  anonymous: true\n`);
    const a = await startCli(['-c', file, ...QUICK]);
    await login(a.port);
    const b = await startCli(['-c', file, '--no-anonymous', ...QUICK]);
    await refused(b.port);
  });

  test('without a users file every login is accepted', async () => {
    const { port, started } = await startCli(['--store', 'memory']);
    await login(port, 'anyone', 'anything');
    await login(port);
    assert.equal((started.auth as { anonymous: boolean }).anonymous, true);
  });

  test("CoilMQ's plaintext [auth] file is accepted, with a warning", async () => {
    const dir = tempDir();
    const ini = writeFile(dir, 'coilmq.ini', '[auth]\nalice = wonderland\n');
    const { c, port } = await startCli(['--users', ini, ...QUICK]);
    const warning = c.logs.find((l) => l.level === 40 && /plaintext/.test(l.msg));
    assert.ok(warning, 'a warning about plaintext passwords');
    await login(port, 'alice', 'wonderland');
    await refused(port, 'alice', 'WONDERLAND');
  });
});

describe('permissions from the configuration file', () => {
  test('read, write, both, neither; exact, prefix and wildcard patterns; groups', async () => {
    const dir = tempDir();
    const users = path.join(dir, 'users');
    await setPasscode(users, 'reader', 'pw');
    await setPasscode(users, 'writer', 'pw');
    await setPasscode(users, 'both', 'pw');
    await setPasscode(users, 'nobody', 'pw');
    await setPasscode(users, 'member', 'pw', ['--groups', 'ops']);
    const file = writeFile(
      dir,
      'acl.yaml',
      `auth:
  usersFile: ${users}
  failureDelayMs: 50
store:
  kind: memory
acl:
  - users: [reader]
    destinations: [/queue/orders]
    allow: [read]
  - users: [writer]
    destinations: [/queue/orders]
    allow: [write]
  - users: [both]
    destinations: ['/queue/shared/**']
    allow: [read, write]
  - groups: [ops]
    destinations: ['/topic/ops.*']
    allow: [read, write]
`,
    );
    const { c, port, started } = await startCli(['-c', file], { dataDir: false });
    assert.equal((started.auth as { aclRules: number }).aclRules, 4);

    const forbidden = async (
      user: string,
      frame: string,
      right: 'read' | 'write',
      dest: string,
    ): Promise<void> => {
      const client = await login(port, user, 'pw');
      client.write(frame);
      const err = await client.expect('ERROR');
      assert.equal(err.header('code'), 'FORBIDDEN', `${user} ${right} ${dest}`);
      assert.ok(err.header('message')!.includes(dest), err.header('message'));
      assert.ok(err.header('message')!.includes(right), err.header('message'));
      await client.waitClosed();
    };
    const sub = (dest: string): string => `SUBSCRIBE\nid:1\ndestination:${dest}\nreceipt:r\n\n\0`;
    const send = (dest: string): string => `SEND\ndestination:${dest}\nreceipt:r\n\nhi\0`;
    const allowed = async (user: string, frame: string): Promise<void> => {
      const client = await login(port, user, 'pw');
      client.write(frame);
      assert.equal((await client.expect('RECEIPT')).header('receipt-id'), 'r');
    };

    // read only
    await allowed('reader', sub('/queue/orders'));
    await forbidden('reader', send('/queue/orders'), 'write', '/queue/orders');
    // write only
    await allowed('writer', send('/queue/orders'));
    await forbidden('writer', sub('/queue/orders'), 'read', '/queue/orders');
    // both, through a prefix rule
    await allowed('both', sub('/queue/shared/a/b'));
    await allowed('both', send('/queue/shared/x'));
    await forbidden('both', send('/queue/orders'), 'write', '/queue/orders');
    // neither: default deny once there are rules
    await forbidden('nobody', sub('/queue/orders'), 'read', '/queue/orders');
    await forbidden('nobody', send('/queue/shared/x'), 'write', '/queue/shared/x');
    // a group, through a wildcard within one segment
    await allowed('member', sub('/topic/ops.alerts'));
    await allowed('member', send('/topic/ops.alerts'));
    await forbidden('member', sub('/topic/ops.alerts/eu'), 'read', '/topic/ops.alerts/eu');

    const denied = await c.waitForLog('sending ERROR', (l) => l.code === 'FORBIDDEN');
    assert.match(String(denied.detail), /denied/);
  });
});

describe('SIGHUP reloads the users file', () => {
  test('a user added and reloaded can log in; connections made before stay', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 'pw-a');
    const { c, port } = await startCli(['--users', users, ...QUICK]);
    const alice = await login(port, 'alice', 'pw-a');
    await refused(port, 'bob', 'pw-b');

    await setPasscode(users, 'bob', 'pw-b');
    c.child.kill('SIGHUP');
    const reloaded = await c.waitForLog('users file reloaded');
    assert.equal(reloaded.users, 2);
    const bob = await login(port, 'bob', 'pw-b');
    await roundTrip(bob);
    await roundTrip(alice); // still connected, still working

    // A broken file on reload: the users loaded before stay in force, an error is logged.
    fs.writeFileSync(users, 'this is not a users file\n');
    c.child.kill('SIGHUP');
    const failed = await c.waitForLog('users file reload failed: keeping the users loaded before');
    assert.equal(failed.level, 50);
    await login(port, 'bob', 'pw-b');
    await roundTrip(alice);
    assert.equal((await c.kill('SIGTERM')).code, 0);
  });

  test('removing a user takes effect for new logins only', async () => {
    const users = path.join(tempDir(), 'users');
    await setPasscode(users, 'alice', 'pw-a');
    await setPasscode(users, 'bob', 'pw-b');
    const { c, port } = await startCli(['--users', users, ...QUICK]);
    const bob = await login(port, 'bob', 'pw-b');
    fs.writeFileSync(
      users,
      fs
        .readFileSync(users, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('bob:'))
        .join('\n'),
    );
    c.child.kill('SIGHUP');
    await c.waitForLog('users file reloaded');
    const { frame } = await tryLogin(port, 'bob', 'pw-b');
    assert.equal(frame.header('code'), 'AUTH_FAILED');
    await roundTrip(bob);
  });
});
