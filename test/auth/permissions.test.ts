/**
 * The permission matrix over real sockets: a users file (usersAuthenticator) and access
 * rules (rulesAuthorizer) on a broker. Read-only, write-only, both and neither; prefix,
 * wildcard and group rules; anonymous connections. A denied SEND or SUBSCRIBE gets an
 * ERROR with code FORBIDDEN naming the destination and the right, then the connection
 * closes (ER-01), and the decision comes before anything is stored or delivered.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rulesAuthorizer, type AccessRule } from '../../src/auth/acl.js';
import { setPasscode, UserDatabase, usersAuthenticator } from '../../src/auth/users.js';
import type { BrokerOptions } from '../../src/index.js';
import type { StompVersion } from '../../src/protocol/index.js';
import { login } from '../helpers/auth.js';
import { frame, messages, receipt, subscribe } from '../helpers/delivery.js';
import type { RawClient } from '../helpers/raw-client.js';
import { expectErrorThenClose, withBroker, type Harness } from '../helpers/session.js';

const USERS: Array<[string, string[]]> = [
  ['reader', []],
  ['writer', []],
  ['both', []],
  ['neither', []],
  ['news', []],
  ['orders', []],
  ['opsA', ['ops']],
  ['devB', ['dev']],
];

const RULES: AccessRule[] = [
  { users: ['reader'], destinations: ['/queue/m', '/topic/m'], allow: ['read'] },
  { users: ['writer'], destinations: ['/queue/m', '/topic/m'], allow: ['write'] },
  { users: ['both'], destinations: ['/queue/m', '/topic/m'], allow: ['read', 'write'] },
  { users: ['news'], destinations: ['/topic/news.*'], allow: ['read', 'write'] },
  { users: ['orders'], destinations: ['/queue/orders.**'], allow: ['read', 'write'] },
  { groups: ['ops'], destinations: ['/queue/ops/**'], allow: ['read', 'write'] },
  { users: ['*'], destinations: ['/topic/public'], allow: ['read'] },
];

let usersText: string;
let db: UserDatabase;

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-acl-'));
  try {
    const file = path.join(dir, 'users');
    for (const [u, groups] of USERS) await setPasscode(file, u, `${u}-pw`, groups);
    db = await UserDatabase.load(file);
    usersText = fs.readFileSync(file, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function options(anonymous = false, current: () => UserDatabase = () => db): BrokerOptions {
  return {
    authenticate: usersAuthenticator(current, { anonymous, failureDelayMs: 20 }),
    authorize: rulesAuthorizer(RULES, (l) => current().groups(l)),
  };
}

const as = (h: Harness, user: string, version: StompVersion = '1.2'): Promise<RawClient> =>
  login(h, user, `${user}-pw`, version);

/** The frame must be refused: ERROR FORBIDDEN naming the destination and right, then close. */
async function forbidden(
  c: RawClient,
  command: 'SEND' | 'SUBSCRIBE',
  destination: string,
  extra: Record<string, string> = {},
): Promise<void> {
  const headers =
    command === 'SEND' ? { destination, ...extra } : { id: 'sub', destination, ...extra };
  c.write(frame(command, headers, command === 'SEND' ? 'denied body' : ''));
  const f = await expectErrorThenClose(c, 'FORBIDDEN');
  const right = command === 'SEND' ? 'write' : 'read';
  const message = f.header('message') ?? '';
  assert.ok(message.includes(destination), `${message} names ${destination}`);
  assert.ok(message.includes(right), `${message} names the right ${right}`);
  assert.equal(f.header('command'), command);
  if (extra.receipt !== undefined) assert.equal(f.header('receipt-id'), extra.receipt);
  assert.equal(
    c.frames.find((x) => x.command === 'RECEIPT'),
    undefined,
    'no RECEIPT for a denied frame',
  );
}

/** A SEND with a receipt, which must be allowed. */
async function sends(c: RawClient, destination: string, body: string): Promise<void> {
  c.write(frame('SEND', { destination, receipt: `s-${body}` }, body));
  await receipt(c, `s-${body}`);
}

describe('permission matrix on /queue/m: read-only, write-only, both, neither', () => {
  const matrix: Array<[string, boolean, boolean]> = [
    // user, may read, may write
    ['reader', true, false],
    ['writer', false, true],
    ['both', true, true],
    ['neither', false, false],
  ];
  for (const [user, read, write] of matrix) {
    test(`${user}: SUBSCRIBE ${read ? 'allowed' : 'FORBIDDEN'}, SEND ${write ? 'allowed' : 'FORBIDDEN'}`, () =>
      withBroker(options(), async (h) => {
        const s = await as(h, user);
        if (read) await subscribe(s, '/queue/m', { id: 'sub' });
        else await forbidden(s, 'SUBSCRIBE', '/queue/m', { receipt: 'r-sub' });

        const p = await as(h, user);
        if (write) {
          await sends(p, '/queue/m', 'one');
          if (read) assert.equal((await messages(s, 1))[0]!.body.toString(), 'one');
          else assert.equal(h.broker.queueDepth('/queue/m'), 1);
        } else {
          await forbidden(p, 'SEND', '/queue/m', { receipt: 'r-send' });
          assert.equal(h.broker.queueDepth('/queue/m'), 0, 'nothing stored');
        }
        if (read && !write) assert.ok(await s.quiet(100));
      }));
  }

  test('what writer sends, reader receives; neither touches it', () =>
    withBroker(options(), async (h) => {
      const w = await as(h, 'writer');
      await sends(w, '/queue/m', 'hello');
      const n = await as(h, 'neither');
      await forbidden(n, 'SUBSCRIBE', '/queue/m');
      assert.equal(h.broker.queueDepth('/queue/m'), 1, 'the denied SUBSCRIBE took nothing');
      const r = await as(h, 'reader');
      await subscribe(r, '/queue/m');
      assert.equal((await messages(r, 1))[0]!.body.toString(), 'hello');
    }));

  test('STOMP 1.0 and 1.1 sessions are refused the same way', () =>
    withBroker(options(), async (h) => {
      await forbidden(await as(h, 'reader', '1.0'), 'SEND', '/queue/m');
      await forbidden(await as(h, 'writer', '1.1'), 'SUBSCRIBE', '/queue/m');
      assert.equal(h.broker.queueDepth('/queue/m'), 0);
    }));
});

describe('a denied frame has no effect', () => {
  test('a denied SEND to a topic reaches no subscriber', () =>
    withBroker(options(), async (h) => {
      const sub = await as(h, 'both');
      await subscribe(sub, '/topic/m');
      await forbidden(await as(h, 'reader'), 'SEND', '/topic/m');
      assert.ok(await sub.quiet(200), 'nothing delivered');
      await sends(await as(h, 'writer'), '/topic/m', 'allowed');
      assert.equal((await messages(sub, 1))[0]!.body.toString(), 'allowed');
    }));

  test('a denied SEND inside a transaction is refused at once; nothing is committed', () =>
    withBroker(options(), async (h) => {
      const c = await as(h, 'reader');
      c.write(frame('BEGIN', { transaction: 'tx' }));
      await forbidden(c, 'SEND', '/queue/m', { transaction: 'tx' });
      assert.equal(h.broker.queueDepth('/queue/m'), 0);
    }));

  test('frames pipelined after a denied one are not processed', () =>
    withBroker(options(), async (h) => {
      const c = await as(h, 'writer');
      c.write(
        Buffer.concat([
          frame('SUBSCRIBE', { id: 's', destination: '/queue/m' }),
          frame('SEND', { destination: '/queue/m', receipt: 'after' }, 'after the denial'),
        ]),
      );
      await expectErrorThenClose(c, 'FORBIDDEN');
      assert.equal(c.frames.length, 0, 'no RECEIPT');
      assert.equal(h.broker.queueDepth('/queue/m'), 0);
    }));

  test('the other sessions carry on', () =>
    withBroker(options(), async (h) => {
      const good = await as(h, 'both');
      await subscribe(good, '/queue/m');
      await forbidden(await as(h, 'neither'), 'SEND', '/queue/m');
      await sends(good, '/queue/m', 'still-here');
      assert.equal((await messages(good, 1))[0]!.body.toString(), 'still-here');
    }));
});

describe('prefix, wildcard and group rules', () => {
  test("wildcard '/topic/news.*': one segment only", () =>
    withBroker(options(), async (h) => {
      const c = await as(h, 'news');
      await subscribe(c, '/topic/news.sport');
      await sends(c, '/topic/news.weather', 'w');
      await sends(c, '/topic/news.sport', 's');
      assert.equal((await messages(c, 1))[0]!.body.toString(), 's');
      await forbidden(c, 'SEND', '/topic/news.sport/uk');
      await forbidden(await as(h, 'news'), 'SUBSCRIBE', '/topic/newsroom');
      await forbidden(await as(h, 'news'), 'SUBSCRIBE', '/queue/news.sport');
    }));

  test("prefix '/queue/orders.**': everything below it, nothing beside it", () =>
    withBroker(options(), async (h) => {
      const c = await as(h, 'orders');
      await sends(c, '/queue/orders.eu', 'a');
      await sends(c, '/queue/orders.eu/de/berlin', 'b');
      await subscribe(c, '/queue/orders.eu');
      assert.equal((await messages(c, 1))[0]!.body.toString(), 'a');
      await forbidden(c, 'SEND', '/queue/orders');
      await forbidden(await as(h, 'orders'), 'SEND', '/queue/ordersX');
      assert.equal(h.broker.queueDepth('/queue/orders'), 0);
      assert.equal(h.broker.queueDepth('/queue/ordersX'), 0);
    }));

  test('group rules: members of ops may use /queue/ops/**, others may not', () =>
    withBroker(options(), async (h) => {
      const a = await as(h, 'opsA');
      await sends(a, '/queue/ops/deploy', 'go');
      await subscribe(a, '/queue/ops/deploy');
      assert.equal((await messages(a, 1))[0]!.body.toString(), 'go');
      await forbidden(await as(h, 'devB'), 'SUBSCRIBE', '/queue/ops/deploy');
      await forbidden(await as(h, 'devB'), 'SEND', '/queue/ops/deploy');
    }));

  test("users ['*'] rule: every user, and anonymous connections when they are allowed", () =>
    withBroker(options(true), async (h) => {
      for (const c of [await as(h, 'neither'), await login(h, undefined, undefined)]) {
        await subscribe(c, '/topic/public');
      }
      await forbidden(await login(h, undefined, undefined), 'SEND', '/topic/public');
      await forbidden(await login(h, undefined, undefined), 'SUBSCRIBE', '/queue/m');
      await forbidden(await login(h, '', ''), 'SEND', '/queue/m');
    }));
});

describe('reloading the users file changes group rights', () => {
  test('a user taken out of a group loses its rights, on sessions already open too', async () => {
    let current = db;
    await withBroker(
      options(false, () => current),
      async (h) => {
        const a = await as(h, 'opsA');
        await sends(a, '/queue/ops/x', '1');
        // The operator moves opsA to dev and reloads.
        const text = usersText.replace(/^(opsA:[^:]+):ops$/m, '$1:dev');
        current = UserDatabase.parse(text, 'users');
        assert.deepEqual(current.groups('opsA'), ['dev']);
        await forbidden(a, 'SEND', '/queue/ops/x');
        await forbidden(await as(h, 'opsA'), 'SUBSCRIBE', '/queue/ops/x');
        assert.equal(h.broker.queueDepth('/queue/ops/x'), 1);
      },
    );
  });
});
