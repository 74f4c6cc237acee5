/**
 * usersAuthenticator over real sockets: C-05 (a refused login gets ERROR AUTH_FAILED, then
 * the connection closes), E-05 (CONNECT headers are not unescaped, so a passcode with `:`
 * and `\` is the bytes in the frame), case-sensitive logins, anonymous access on and off,
 * the delay before a refusal, CoilMQ's plaintext `[auth]` file, and reload through the
 * database getter (SIGHUP) without dropping connections.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setPasscode, UserDatabase, usersAuthenticator } from '../../src/auth/users.js';
import type { AuthenticateHook, ConnectionInfo } from '../../src/index.js';
import { login, recordingLogger, refused, tempDir } from '../helpers/auth.js';
import { withBroker } from '../helpers/session.js';
import { framesUntilReceipt } from '../helpers/session.js';
import type { RawClient } from '../helpers/raw-client.js';

const FAST = 20; // failure delay for the tests that do not measure it

/** A users file with these users (login -> passcode), loaded. */
async function database(
  dir: string,
  users: Record<string, string>,
  name = 'users',
): Promise<UserDatabase> {
  const file = path.join(dir, name);
  for (const [u, pw] of Object.entries(users)) await setPasscode(file, u, pw);
  return UserDatabase.load(file);
}

/** A SEND with a receipt goes through: the session is alive and usable. */
async function usable(c: RawClient, tag: string): Promise<void> {
  c.write(`SEND\ndestination:/queue/alive\nreceipt:${tag}\n\n${tag}\0`);
  await framesUntilReceipt(c, tag);
}

describe('usersAuthenticator: logins over a real CONNECT', () => {
  test('C-05 the right passcode -> CONNECTED; wrong passcode and unknown user -> AUTH_FAILED, then close', async (t) => {
    const db = await database(tempDir(t), { alice: 'wonderland' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST }) },
      async (h) => {
        const c = await login(h, 'alice', 'wonderland');
        await usable(c, 'r1');
        const wrong = await refused(h, 'alice', 'wonderlan');
        assert.match(wrong.error.header('message') ?? '', /alice/);
        await refused(h, 'mallory', 'wonderland');
        await refused(h, 'alice', undefined);
        await refused(h, 'alice', '');
        assert.equal(h.broker.stats().errors.AUTH_FAILED, 4);
      },
    );
  });

  for (const version of ['1.2', '1.1', '1.0'] as const) {
    test(`E-05 ${version}: a passcode with ":" and "\\" is the literal bytes of the CONNECT header`, async (t) => {
      // What `coilmq passwd` stored is what the client types; the frame carries it raw.
      const passcode = 'p:a\\ss\\cw\\\\o:rd\\';
      const db = await database(tempDir(t), { alice: passcode, colon: ':', back: '\\' });
      await withBroker(
        { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST }) },
        async (h) => {
          await login(h, 'alice', passcode, version);
          await login(h, 'colon', ':', version);
          await login(h, 'back', '\\', version);
          // The escape-decoded forms are other passcodes.
          await refused(h, 'alice', 'p\\ca\\\\ss\\\\cw\\\\\\\\o\\crd\\\\', version);
          await refused(h, 'alice', 'p:a\\ss', version);
        },
      );
    });
  }

  test('logins are case-sensitive over the wire', async (t) => {
    const db = await database(tempDir(t), { alice: 'lower', Bob: 'upper' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST }) },
      async (h) => {
        await login(h, 'alice', 'lower');
        await login(h, 'Bob', 'upper');
        await refused(h, 'Alice', 'lower');
        await refused(h, 'ALICE', 'lower');
        await refused(h, 'bob', 'upper');
      },
    );
  });

  test('the hook sees the login; the session carries it', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    const seen: Array<string | undefined> = [];
    const inner = usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST });
    const hook: AuthenticateHook = async (l, p, conn: ConnectionInfo) => {
      const ok = await inner(l, p, conn);
      seen.push(conn.login);
      return ok;
    };
    await withBroker({ authenticate: hook }, async (h) => {
      await login(h, 'alice', 'a');
      assert.deepEqual(seen, [undefined], 'not yet logged in while deciding');
    });
  });
});

describe('usersAuthenticator: anonymous access', () => {
  test('anonymous off: no login, or an empty one -> AUTH_FAILED', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST }) },
      async (h) => {
        const none = await refused(h, undefined, undefined);
        assert.match(none.error.header('message') ?? '', /no login/);
        await refused(h, '', '');
        await refused(h, undefined, 'a');
        await refused(h, undefined, undefined, '1.0');
        await login(h, 'alice', 'a');
      },
    );
  });

  test('anonymous on: no login, or an empty one -> CONNECTED; a given login must still be right', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: true, failureDelayMs: FAST }) },
      async (h) => {
        const anon = await login(h, undefined, undefined);
        await usable(anon, 'anon');
        await login(h, '', '');
        await login(h, undefined, 'whatever');
        await login(h, undefined, undefined, '1.0');
        await login(h, 'alice', 'a');
        // No falling back to anonymous on a bad login.
        await refused(h, 'alice', 'b');
        await refused(h, 'mallory', '');
      },
    );
  });
});

describe('usersAuthenticator: the delay before a refusal', () => {
  test('a refusal comes failureDelayMs after the CONNECT; a success is not delayed', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    const delay = 300;
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: delay }) },
      async (h) => {
        const results = await Promise.all([
          refused(h, 'alice', 'wrong'),
          refused(h, 'mallory', 'a'),
          refused(h, undefined, undefined),
        ]);
        for (const r of results) {
          assert.ok(r.ms >= delay - 5, `ERROR after ${r.ms.toFixed(0)} ms, expected >= ${delay}`);
          assert.ok(r.ms < delay + 1000, `ERROR after ${r.ms.toFixed(0)} ms`);
        }
        const c = await h.open();
        const t0 = performance.now();
        c.write('CONNECT\naccept-version:1.2\nhost:x\nlogin:alice\npasscode:a\n\n\0');
        await c.expect('CONNECTED');
        const ms = performance.now() - t0;
        assert.ok(ms < delay, `CONNECTED after ${ms.toFixed(0)} ms`);
      },
    );
  });

  test('the default delay is one second', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false }) },
      async (h) => {
        const r = await refused(h, 'alice', 'wrong');
        assert.ok(r.ms >= 995, `ERROR after ${r.ms.toFixed(0)} ms`);
      },
    );
  });

  test('failureDelayMs 0 answers at once; a negative delay is refused', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    assert.throws(
      () => usersAuthenticator(() => db, { anonymous: false, failureDelayMs: -1 }),
      /failureDelayMs/,
    );
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: 0 }) },
      async (h) => {
        const r = await refused(h, undefined, undefined);
        assert.ok(r.ms < 200, `ERROR after ${r.ms.toFixed(0)} ms`);
      },
    );
  });

  test('a client that leaves during the delay is simply gone', async (t) => {
    const db = await database(tempDir(t), { alice: 'a' });
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: 200 }) },
      async (h) => {
        const c = await h.open();
        c.write('CONNECT\naccept-version:1.2\nhost:x\nlogin:alice\npasscode:no\n\n\0');
        await new Promise((r) => setTimeout(r, 50));
        c.destroy();
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(h.broker.stats().connections, 0);
        await login(h, 'alice', 'a');
      },
    );
  });
});

describe("usersAuthenticator with CoilMQ's [auth] file", () => {
  test('plaintext users log in; the warning is logged once, at load', async (t) => {
    const file = path.join(tempDir(t), 'coilmq-auth.ini');
    fs.writeFileSync(file, '[auth]\nsomeuser = some:pa\\ss\nanother = x\n');
    const log = recordingLogger();
    const db = await UserDatabase.load(file, log);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!.msg ?? '', /plaintext passwords.*deprecated.*coilmq passwd/);
    await withBroker(
      { authenticate: usersAuthenticator(() => db, { anonymous: false, failureDelayMs: FAST }) },
      async (h) => {
        await login(h, 'someuser', 'some:pa\\ss');
        await login(h, 'another', 'x');
        await refused(h, 'someuser', 'x');
        await refused(h, 'nobody', 'x');
      },
    );
    assert.equal(log.warnings.length, 1);
  });
});

describe('usersAuthenticator: reload through the getter (SIGHUP)', () => {
  test('a new database takes effect for new logins; existing sessions are not touched', async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'users');
    await setPasscode(file, 'alice', 'old');
    await setPasscode(file, 'carol', 'c');
    let current = await UserDatabase.load(file);
    const first = current;
    let reads = 0;
    const hook = usersAuthenticator(
      () => {
        reads++;
        return current;
      },
      { anonymous: false, failureDelayMs: FAST },
    );
    await withBroker({ authenticate: hook }, async (h) => {
      const alice = await login(h, 'alice', 'old');
      const carol = await login(h, 'carol', 'c');

      // The operator changes alice's passcode, removes carol, adds bob, and sends SIGHUP.
      await setPasscode(file, 'alice', 'new');
      await setPasscode(file, 'bob', 'b');
      fs.writeFileSync(
        file,
        fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('carol:'))
          .join('\n'),
      );
      await refused(h, 'bob', 'b'); // not reloaded yet
      current = await UserDatabase.load(file);
      assert.notEqual(current, first);

      await refused(h, 'alice', 'old');
      await login(h, 'alice', 'new');
      await login(h, 'bob', 'b');
      await refused(h, 'carol', 'c');
      // Sessions made before the reload carry on, carol's included.
      await usable(alice, 'a1');
      await usable(carol, 'c1');
      assert.equal(alice.ended || carol.ended, false);
    });
    assert.equal(reads, 7, 'the getter is read for every login attempt with a login');
  });
});
