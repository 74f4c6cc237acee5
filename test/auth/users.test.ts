/**
 * The users file (src/auth/users.ts): hashPasscode, setPasscode (what `coilmq passwd`
 * writes), UserDatabase (load and verify), and CoilMQ's plaintext `[auth]` ini file read
 * for migration. No broker here; test/auth/authenticate.test.ts logs in over real sockets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hashPasscode, setPasscode, UserDatabase } from '../../src/auth/users.js';
import { recordingLogger, tempDir } from '../helpers/auth.js';

const HASH = /^scrypt\$16384\$8\$1\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

describe('hashPasscode', () => {
  test('scrypt$16384$8$1$SALT$HASH with a 16-byte random salt and a 32-byte key', () => {
    const a = hashPasscode('secret');
    const b = hashPasscode('secret');
    const m = HASH.exec(a);
    assert.ok(m, a);
    assert.equal(Buffer.from(m[1]!, 'base64').length, 16);
    assert.equal(Buffer.from(m[2]!, 'base64').length, 32);
    assert.notEqual(a, b, 'a fresh salt every time');
  });

  test('a passcode with ":", "\\", "$" and spaces hashes to a line-safe string', () => {
    assert.match(hashPasscode('a:b\\c$d e:'), HASH);
  });
});

describe('setPasscode then UserDatabase.load', () => {
  test('round trip: the right passcode verifies; a wrong one and an unknown user do not', async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'users');
    await setPasscode(file, 'alice', 'wonderland');
    await setPasscode(file, 'bob', 'builder', ['ops', 'dev']);
    const db = await UserDatabase.load(file);
    assert.equal(db.format, 'users');
    assert.equal(db.size, 2);
    assert.ok(db.has('alice') && db.has('bob') && !db.has('carol'));
    assert.equal(await db.verify('alice', 'wonderland'), true);
    assert.equal(await db.verify('bob', 'builder'), true);
    assert.equal(await db.verify('alice', 'builder'), false);
    assert.equal(await db.verify('alice', 'wonderland '), false);
    assert.equal(await db.verify('alice', ''), false);
    assert.equal(await db.verify('carol', 'wonderland'), false);
    assert.equal(await db.verify(undefined, 'wonderland'), false);
    assert.equal(await db.verify('alice', undefined), false);
    assert.deepEqual(db.groups('bob'), ['ops', 'dev']);
    assert.deepEqual(db.groups('alice'), []);
    assert.deepEqual(db.groups('carol'), []);
    assert.deepEqual(fs.readdirSync(dir), ['users'], 'no temporary file left behind');
  });

  test('a new file is created with mode 0600; an existing file keeps its mode', async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'users');
    await setPasscode(file, 'alice', 'pw');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.chmodSync(file, 0o640);
    await setPasscode(file, 'alice', 'pw2');
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  });

  test('a symbolic link to the users file is followed, not replaced', async (t) => {
    const dir = tempDir(t);
    const real = path.join(dir, 'real-users');
    const link = path.join(dir, 'users');
    await setPasscode(real, 'alice', 'a');
    fs.symlinkSync(real, link);
    await setPasscode(link, 'bob', 'b');
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    const db = await UserDatabase.load(real);
    assert.equal(await db.verify('bob', 'b'), true);
    assert.equal(await db.verify('alice', 'a'), true);
  });

  test('passcodes containing ":", "\\", "#", "$", spaces and non-ASCII', async (t) => {
    const file = path.join(tempDir(t), 'users');
    const passcodes = [
      'p:a\\ss\\cw\\\\o:rd\\',
      ':',
      '\\',
      '#not a comment',
      'a$b$c',
      ' sp ace ',
      'pässwörd✓',
    ];
    for (const [i, pw] of passcodes.entries()) await setPasscode(file, `u${i}`, pw);
    const db = await UserDatabase.load(file);
    for (const [i, pw] of passcodes.entries()) {
      assert.equal(await db.verify(`u${i}`, pw), true, `u${i}: ${JSON.stringify(pw)}`);
      assert.equal(await db.verify(`u${i}`, pw + 'x'), false);
    }
    // A passcode differing only by an escape's decoding is another passcode (E-05).
    assert.equal(await db.verify('u0', 'p\\ca\\\\ss'), false);
  });

  test('logins are case-sensitive', async (t) => {
    const file = path.join(tempDir(t), 'users');
    await setPasscode(file, 'Alice', 'upper');
    await setPasscode(file, 'alice', 'lower');
    const db = await UserDatabase.load(file);
    assert.equal(db.size, 2);
    assert.equal(await db.verify('Alice', 'upper'), true);
    assert.equal(await db.verify('alice', 'lower'), true);
    assert.equal(await db.verify('Alice', 'lower'), false);
    assert.equal(await db.verify('ALICE', 'upper'), false);
    assert.equal(db.has('ALICE'), false);
  });

  test('replacing a passcode keeps comments, blank lines, other users and the order', async (t) => {
    const file = path.join(tempDir(t), 'users');
    const bob = `bob:${hashPasscode('b')}:ops`;
    const carol = `carol:${hashPasscode('c')}`;
    fs.writeFileSync(
      file,
      `# coilmq users\n\n${bob}\n  # indented comment\nalice:${hashPasscode('old')}:dev,ops\n${carol}`,
    );
    await setPasscode(file, 'alice', 'new');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.length, 7, 'a final newline is added');
    assert.equal(lines[0], '# coilmq users');
    assert.equal(lines[1], '');
    assert.equal(lines[2], bob);
    assert.equal(lines[3], '  # indented comment');
    assert.match(lines[4]!, /^alice:scrypt\$[^:]+:dev,ops$/, 'groups kept when not given');
    assert.equal(lines[5], carol);
    assert.equal(lines[6], '');
    const db = await UserDatabase.load(file);
    assert.equal(await db.verify('alice', 'new'), true);
    assert.equal(await db.verify('alice', 'old'), false);
    assert.equal(await db.verify('bob', 'b'), true);
    assert.deepEqual(db.groups('alice'), ['dev', 'ops']);
  });

  test('groups: given ones replace the old ones, [] clears them, a new user is appended', async (t) => {
    const file = path.join(tempDir(t), 'users');
    await setPasscode(file, 'alice', 'a', ['dev']);
    await setPasscode(file, 'alice', 'a', ['ops', 'audit']);
    assert.deepEqual((await UserDatabase.load(file)).groups('alice'), ['ops', 'audit']);
    await setPasscode(file, 'alice', 'a', []);
    assert.deepEqual((await UserDatabase.load(file)).groups('alice'), []);
    assert.match(fs.readFileSync(file, 'utf8'), /^alice:scrypt\$[^:]+\n$/);
    await setPasscode(file, 'bob', 'b');
    assert.deepEqual(
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.split(':')[0]),
      ['alice', 'bob', ''],
    );
  });

  test('CRLF line endings and a byte-order mark are accepted', async (t) => {
    const file = path.join(tempDir(t), 'users');
    fs.writeFileSync(
      file,
      `\ufeff# users\r\nalice:${hashPasscode('a')}:g1\r\n\r\nbob:${hashPasscode('b')}\r\n`,
    );
    const db = await UserDatabase.load(file);
    assert.equal(await db.verify('alice', 'a'), true);
    assert.equal(await db.verify('bob', 'b'), true);
    assert.deepEqual(db.groups('alice'), ['g1']);
    await setPasscode(file, 'alice', 'a2');
    assert.equal(await (await UserDatabase.load(file)).verify('alice', 'a2'), true);
  });

  test('setPasscode refuses bad logins, passcodes and groups, and leaves the file alone', async (t) => {
    const file = path.join(tempDir(t), 'users');
    await setPasscode(file, 'alice', 'a');
    const before = fs.readFileSync(file, 'utf8');
    for (const bad of ['', 'a:b', 'a b', 'tab\there', 'new\nline', '#hash', ' lead']) {
      await assert.rejects(setPasscode(file, bad, 'pw'), /login/, JSON.stringify(bad));
    }
    await assert.rejects(setPasscode(file, 'bob', ''), /passcode/);
    await assert.rejects(setPasscode(file, 'bob', 'a\nb'), /passcode/);
    for (const g of ['', 'a,b', 'a:b', 'a b']) {
      await assert.rejects(setPasscode(file, 'bob', 'pw', [g]), /group/, JSON.stringify(g));
    }
    assert.equal(fs.readFileSync(file, 'utf8'), before);
  });

  test('setPasscode refuses to rewrite a malformed users file or a CoilMQ ini file', async (t) => {
    const dir = tempDir(t);
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'alice:plaintext\n');
    await assert.rejects(setPasscode(bad, 'bob', 'pw'), /bad:1:/);
    const ini = path.join(dir, 'auth.ini');
    fs.writeFileSync(ini, '[auth]\nalice = pw\n');
    await assert.rejects(setPasscode(ini, 'bob', 'pw'), /CoilMQ/);
    assert.equal(fs.readFileSync(ini, 'utf8'), '[auth]\nalice = pw\n');
  });
});

describe('UserDatabase.load errors name the file and line', () => {
  const h = hashPasscode('x');
  const cases: Array<[string, string, RegExp]> = [
    ['no hash', 'alice\n', /:1: expected login:scrypt/],
    ['plaintext', `# c\nalice:secret\n`, /:2: .*scrypt\$/],
    ['unknown scheme', 'alice:bcrypt$2b$10$abc\n', /:1: .*scrypt\$/],
    ['too many fields', `alice:${h}:g:extra\n`, /:1: expected/],
    ['empty login', `:${h}\n`, /:1: a login must not be empty/],
    ['whitespace in login', `al ice:${h}\n`, /:1: a login must not contain whitespace/],
    ['listed twice', `alice:${h}\nbob:${h}\nalice:${h}\n`, /:3: user alice is listed twice/],
    [
      'N not a power of two',
      'a:scrypt$1000$8$1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(43) + '=\n',
      /power of two/,
    ],
    [
      'N too large',
      'a:scrypt$4194304$8$1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(43) + '=\n',
      /power of two/,
    ],
    ['r too large', 'a:scrypt$1024$64$1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(43) + '=\n', /r must be/],
    ['bad base64', 'a:scrypt$1024$8$1$!!!$' + 'A'.repeat(43) + '=\n', /base64/],
    ['empty group', `alice:${h}:a,,b\n`, /:1: user alice: a group name must not be empty/],
  ];
  for (const [label, text, re] of cases) {
    test(label, async (t) => {
      const file = path.join(tempDir(t), 'users');
      fs.writeFileSync(file, text);
      await assert.rejects(UserDatabase.load(file), (err: Error) => {
        assert.ok(err.message.startsWith(file), err.message);
        assert.match(err.message, re);
        return true;
      });
    });
  }

  test('a missing file', async (t) => {
    const file = path.join(tempDir(t), 'nope');
    await assert.rejects(UserDatabase.load(file), new RegExp(`${file}.*ENOENT`));
  });

  test('an empty file, or only comments, is an empty database', () => {
    assert.equal(UserDatabase.parse('').size, 0);
    assert.equal(UserDatabase.parse('# nobody yet\n\n').size, 0);
  });
});

describe('verify: an unknown login costs what a known one does', () => {
  test('unknown logins are hashed too (not answered at once)', async () => {
    const db = UserDatabase.parse(`alice:${hashPasscode('a')}\n`);
    const time = async (login: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        assert.equal(await db.verify(login, 'wrong'), false);
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[2]!;
    };
    // Only a lower bound, which load cannot break: an unknown login still pays for an
    // scrypt hash (tens of milliseconds at N=16384) instead of being refused at once.
    const unknown = await time('mallory');
    assert.ok(unknown >= 5, `unknown login answered in ${unknown.toFixed(1)} ms`);
  });

  test('verify does not block the event loop', async () => {
    const db = UserDatabase.parse(`alice:${hashPasscode('a')}\n`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all([1, 2, 3, 4].map(() => db.verify('alice', 'a')));
    clearInterval(timer);
    assert.ok(ticks > 0, 'timers ran while hashing');
  });
});

describe("CoilMQ's [auth] ini file (migration)", () => {
  test('user = password lines are read, with a warning that plaintext is deprecated', async (t) => {
    const file = path.join(tempDir(t), 'auth.ini');
    fs.writeFileSync(
      file,
      [
        '# CoilMQ auth file',
        '; another comment',
        '[other]',
        'ignored = x',
        '',
        '[auth]',
        'someuser = somepass',
        'anotheruser=anotherpass',
        'coloned: p:ass=word',
        'spaced =  pass with spaces  ',
        'pct = 100%%',
        'backslash = a\\b\\c',
        '',
      ].join('\n'),
    );
    const log = recordingLogger();
    const db = await UserDatabase.load(file, log);
    assert.equal(db.format, 'coilmq-ini');
    assert.equal(db.size, 6);
    assert.equal(await db.verify('someuser', 'somepass'), true);
    assert.equal(await db.verify('anotheruser', 'anotherpass'), true);
    assert.equal(await db.verify('coloned', 'p:ass=word'), true);
    assert.equal(await db.verify('spaced', 'pass with spaces'), true);
    assert.equal(await db.verify('pct', '100%'), true);
    assert.equal(await db.verify('backslash', 'a\\b\\c'), true);
    assert.equal(await db.verify('someuser', 'somepas'), false);
    assert.equal(await db.verify('someuser', 'somepass2'), false);
    assert.equal(await db.verify('ignored', 'x'), false, 'only the [auth] section');
    assert.equal(await db.verify('nobody', 'somepass'), false);
    assert.deepEqual(db.groups('someuser'), []);

    assert.equal(log.warnings.length, 1);
    const w = log.warnings[0]!;
    assert.equal((w.obj as { file: string }).file, file);
    assert.match(w.msg ?? '', /plaintext/);
    assert.match(w.msg ?? '', /deprecated/);
    assert.match(w.msg ?? '', /coilmq passwd/);
  });

  test('keys are lowercased as CoilMQ (ConfigParser) did, so the same logins work', async () => {
    const db = UserDatabase.parse('[auth]\nAlice = pw\n', 'auth.ini');
    assert.equal(await db.verify('alice', 'pw'), true);
    assert.equal(await db.verify('Alice', 'pw'), false);
  });

  test('continuation lines, %(name)s and [DEFAULT] are read as ConfigParser reads them', async () => {
    const db = UserDatabase.parse(
      '[DEFAULT]\nbase = shared\n[auth]\nmulti = first\n  second\nref = %(base)s-x\n',
      'auth.ini',
    );
    assert.equal(await db.verify('multi', 'first\nsecond'), true);
    assert.equal(await db.verify('ref', 'shared-x'), true);
    assert.equal(await db.verify('base', 'shared'), true);
  });

  test('a key with inner spaces is a login, as it was for CoilMQ', async () => {
    const db = UserDatabase.parse('[auth]\nsome user = pw\n', 'auth.ini');
    assert.equal(await db.verify('some user', 'pw'), true);
  });

  test('no [auth] section, a key without a value, a lone % or a duplicate are errors', () => {
    assert.throws(
      () => UserDatabase.parse('[users]\na = b\n', 'f.ini'),
      /f\.ini.*no \[auth\] section/,
    );
    assert.throws(
      () => UserDatabase.parse('[auth]\nnovalue\n', 'f.ini'),
      /f\.ini:2: expected user = password/,
    );
    assert.throws(() => UserDatabase.parse('[auth]\na = 5%\n', 'f.ini'), /interpolation/);
    assert.throws(() => UserDatabase.parse('[auth]\na = 1\nA = 2\n', 'f.ini'), /f\.ini:3: .*twice/);
  });

  test('plaintext comparison is constant-time for known and unknown users', async () => {
    // Both paths compare SHA-256 digests with timingSafeEqual; this checks the answers.
    const db = UserDatabase.parse('[auth]\nu = ' + 'x'.repeat(1000) + '\n', 'f.ini');
    assert.equal(await db.verify('u', 'x'.repeat(1000)), true);
    assert.equal(await db.verify('u', 'x'.repeat(999)), false);
    assert.equal(await db.verify('v', 'x'.repeat(1000)), false);
  });
});
