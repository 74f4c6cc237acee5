/**
 * Access rules (src/auth/acl.ts) as functions: destination patterns, rule validation, who a
 * rule applies to, default deny, and the decision cache following group changes on reload.
 * test/auth/permissions.test.ts runs the permission matrix over real sockets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePattern, rulesAuthorizer, type AccessRule } from '../../src/auth/acl.js';
import type { Action, AuthorizeHook, ConnectionInfo } from '../../src/index.js';

function conn(login: string | undefined): ConnectionInfo {
  return {
    id: 's',
    remoteAddress: '127.0.0.1',
    transport: 'tcp',
    login,
    version: '1.2',
    certificateLogin: undefined,
  };
}

async function can(
  hook: AuthorizeHook,
  login: string | undefined,
  action: Action,
  destination: string,
): Promise<boolean> {
  return hook(conn(login), action, destination);
}

describe('destination patterns', () => {
  const cases: Array<[string, string[], string[]]> = [
    // pattern, matches, does not match
    ['/queue/a', ['/queue/a'], ['/queue/ab', '/queue/', '/queue/a/', '/QUEUE/a', '/queue/A']],
    ['/queue/a.b', ['/queue/a.b'], ['/queue/aXb', '/queue/a.bc']],
    ['/queue/*', ['/queue/a', '/queue/orders.eu', '/queue/'], ['/queue/a/b', '/queue', '/topic/a']],
    [
      '/topic/news.*',
      ['/topic/news.sport', '/topic/news.'],
      ['/topic/news.sport/uk', '/topic/newsx', '/topic/news'],
    ],
    ['/queue/**', ['/queue/a', '/queue/a/b/c', '/queue/'], ['/queue', '/topic/a', 'x/queue/a']],
    [
      '/queue/orders.**',
      ['/queue/orders.eu', '/queue/orders.eu/de', '/queue/orders.'],
      ['/queue/orders', '/queue/ordersX'],
    ],
    ['/a/*/c', ['/a/b/c', '/a//c'], ['/a/b/x/c', '/a/b/cd']],
    ['/a/**/c', ['/a/b/c', '/a/b/x/c', '/a//c'], ['/a/c', '/a/b/cd']],
    ['*.log', ['app.log', '.log'], ['/app.log', 'a/b.log']],
    ['**', ['', '/queue/a', 'anything/at/all'], []],
    ['/q/(a|b)+[x]$^\\', ['/q/(a|b)+[x]$^\\'], ['/q/a', '/q/ab']],
    ['/queue/a\nb', ['/queue/a\nb'], ['/queue/a']],
    ['/queue/**x', ['/queue/a\nx', '/queue/x', '/queue/a/bx'], ['/queue/a\ny']],
  ];
  for (const [pattern, yes, no] of cases) {
    test(JSON.stringify(pattern), () => {
      for (const d of yes)
        assert.equal(compilePattern(pattern).test(d), true, `${pattern} matches ${d}`);
      for (const d of no)
        assert.equal(compilePattern(pattern).test(d), false, `${pattern} !~ ${d}`);
    });
  }

  test('invalid patterns: empty, three or more * in a row', () => {
    assert.throws(() => compilePattern(''), TypeError);
    assert.throws(() => compilePattern('/queue/***'), /at most two \*/);
    assert.throws(() => compilePattern(42 as unknown as string), TypeError);
  });
});

describe('rulesAuthorizer', () => {
  const groups: Record<string, string[]> = { gina: ['ops'], hank: ['dev', 'ops'], ivan: ['dev'] };
  const groupsOf = (l: string): readonly string[] => groups[l] ?? [];
  const rules: AccessRule[] = [
    { users: ['reader'], destinations: ['/queue/**'], allow: ['read'] },
    { users: ['writer'], destinations: ['/queue/**'], allow: ['write'] },
    { users: ['both', 'other'], destinations: ['/queue/a', '/topic/t'], allow: ['read', 'write'] },
    { groups: ['ops'], destinations: ['/queue/ops.**'], allow: ['read', 'write'] },
    { users: ['*'], destinations: ['/topic/public.*'], allow: ['read'] },
  ];
  const hook = rulesAuthorizer(rules, groupsOf);

  test('read and write are separate rights', async () => {
    assert.equal(await can(hook, 'reader', 'read', '/queue/x'), true);
    assert.equal(await can(hook, 'reader', 'write', '/queue/x'), false);
    assert.equal(await can(hook, 'writer', 'write', '/queue/x'), true);
    assert.equal(await can(hook, 'writer', 'read', '/queue/x'), false);
    assert.equal(await can(hook, 'both', 'read', '/queue/a'), true);
    assert.equal(await can(hook, 'both', 'write', '/topic/t'), true);
    assert.equal(await can(hook, 'other', 'write', '/queue/a'), true);
  });

  test('default deny: unnamed users, unmatched destinations, case-sensitive logins', async () => {
    assert.equal(await can(hook, 'nobody', 'read', '/queue/a'), false);
    assert.equal(await can(hook, 'nobody', 'write', '/queue/a'), false);
    assert.equal(await can(hook, 'both', 'read', '/queue/b'), false);
    assert.equal(await can(hook, 'reader', 'read', '/topic/x'), false);
    assert.equal(await can(hook, 'Reader', 'read', '/queue/x'), false);
  });

  test('group rules apply to every member', async () => {
    assert.equal(await can(hook, 'gina', 'write', '/queue/ops.deploy'), true);
    assert.equal(await can(hook, 'hank', 'read', '/queue/ops.deploy/eu'), true);
    assert.equal(await can(hook, 'ivan', 'read', '/queue/ops.deploy'), false);
    assert.equal(await can(hook, 'gina', 'read', '/queue/other'), false);
  });

  test("users ['*'] applies to every connection, anonymous ones included", async () => {
    for (const who of ['reader', 'nobody', undefined, '']) {
      assert.equal(await can(hook, who, 'read', '/topic/public.news'), true, String(who));
      assert.equal(await can(hook, who, 'write', '/topic/public.news'), false, String(who));
      assert.equal(await can(hook, who, 'read', '/topic/public.news/x'), false, String(who));
    }
  });

  test('anonymous connections are in no group and match no named user', async () => {
    let asked = 0;
    const h = rulesAuthorizer(
      [{ users: ['x'], groups: ['g'], destinations: ['**'], allow: ['read'] }],
      () => {
        asked++;
        return ['g'];
      },
    );
    assert.equal(await can(h, undefined, 'read', '/queue/a'), false);
    assert.equal(await can(h, '', 'read', '/queue/a'), false);
    assert.equal(asked, 0, 'groupsOf is not asked for anonymous connections');
    assert.equal(await can(h, 'x', 'read', '/queue/a'), true);
  });

  test('no rules: everything is allowed', async () => {
    const h = rulesAuthorizer([], () => []);
    assert.equal(await can(h, 'anyone', 'write', '/queue/a'), true);
    assert.equal(await can(h, undefined, 'read', '/topic/b'), true);
  });

  test('the hook answers synchronously (no promise per SEND)', () => {
    assert.equal(hook(conn('writer'), 'write', '/queue/x'), true);
    assert.equal(hook(conn('reader'), 'write', '/queue/x'), false);
  });

  test('a reload that changes groups changes the cached decisions', async () => {
    const current: Record<string, readonly string[]> = { u: Object.freeze(['ops']) };
    const h = rulesAuthorizer(rules, (l) => current[l] ?? []);
    assert.equal(await can(h, 'u', 'write', '/queue/ops.a'), true);
    assert.equal(await can(h, 'u', 'write', '/queue/ops.a'), true); // cached
    current.u = Object.freeze(['dev']); // SIGHUP: a new database
    assert.equal(await can(h, 'u', 'write', '/queue/ops.a'), false);
    current.u = ['ops']; // a fresh array with the same groups
    assert.equal(await can(h, 'u', 'write', '/queue/ops.a'), true);
  });

  test('the cache is bounded and never confuses logins and destinations', async () => {
    const h = rulesAuthorizer(
      [
        { users: ['a'], destinations: ['b/x'], allow: ['write'] },
        { users: ['ab'], destinations: ['/y'], allow: ['write'] },
      ],
      () => [],
    );
    // 'a' + 'b/x' and 'ab' + '/x' must not share a cache entry.
    assert.equal(await can(h, 'a', 'write', 'b/x'), true);
    assert.equal(await can(h, 'ab', 'write', '/x'), false);
    assert.equal(await can(h, 'ab', 'write', '/y'), true);
    assert.equal(await can(h, 'a', 'read', 'b/x'), false);
    for (let i = 0; i < 25_000; i++) h(conn('a'), 'write', `/queue/${i}`);
    assert.equal(await can(h, 'a', 'write', 'b/x'), true, 'still right after evictions');
    const long = 'b/x' + 'z'.repeat(5000);
    assert.equal(await can(h, 'a', 'write', long), false, 'long keys are decided, not cached');
  });

  test('a malformed rule is refused, naming it', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ destinations: ['/q'], allow: ['read'] }, /rules\[0\] must name users or groups/],
      [{ users: [], groups: [], destinations: ['/q'], allow: ['read'] }, /rules\[0\] must name/],
      [
        { users: ['a'], destinations: [], allow: ['read'] },
        /rules\[0\]\.destinations must not be empty/,
      ],
      [{ users: ['a'], destinations: ['/q'], allow: [] }, /rules\[0\]\.allow must not be empty/],
      [{ users: ['a'], destinations: ['/q'], allow: ['admin'] }, /rules\[0\]\.allow: "admin"/],
      [
        { users: ['a'], destinations: ['/q/***'], allow: ['read'] },
        /rules\[0\]\.destinations\[0\]/,
      ],
      [{ users: ['a'], destinations: [''], allow: ['read'] }, /rules\[0\]\.destinations/],
      [{ users: 'a', destinations: ['/q'], allow: ['read'] }, /rules\[0\]\.users/],
      [null, /rules\[0\] must be an object/],
    ];
    for (const [rule, re] of bad) {
      assert.throws(
        () => rulesAuthorizer([rule as AccessRule], () => []),
        re,
        JSON.stringify(rule),
      );
    }
    assert.throws(
      () =>
        rulesAuthorizer(
          [
            { users: ['a'], destinations: ['/q'], allow: ['read'] },
            { users: ['a'], destinations: ['/q'], allow: ['x' as 'read'] },
          ],
          () => [],
        ),
      /rules\[1\]/,
    );
  });
});
