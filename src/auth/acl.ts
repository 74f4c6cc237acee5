/**
 * Access rules: which users and groups may `read` (SUBSCRIBE) and `write` (SEND) which
 * destinations, as an `authorize` hook.
 *
 * ## Rules
 *
 * A rule grants the rights in `allow` on the destinations matching any of its
 * `destinations` patterns to the connections it applies to:
 *
 * - `users`: logins, exactly (case-sensitive). `'*'` stands for every connection:
 *   every authenticated user and, when anonymous access is on, anonymous connections too.
 * - `groups`: a connection whose user is in any of these groups (from the users file).
 * - A rule applies when it names the connection's login (or `'*'`) or one of its groups.
 *   It must name at least one user or group.
 * - Anonymous connections (no login, or an empty one) are in no group and match only
 *   rules with `users: ['*']`.
 *
 * Rules only grant: a right is allowed when some rule that applies grants it on a
 * matching destination, and denied otherwise (default deny). With no rules at all,
 * everything is allowed (as without an authorize hook).
 *
 * ## Destination patterns
 *
 * - No `*`: the exact destination name, e.g. `/queue/orders`.
 * - `*` matches any run of characters other than `/` (possibly none), within one path
 *   segment: `/topic/news.*` matches `/topic/news.sport` but not `/topic/news.sport/uk`.
 * - `**` matches any run of characters, `/` included (possibly none): a prefix is written
 *   `PREFIX**`, e.g. `/queue/**` (every queue) or `/queue/orders.**`; `**` alone matches
 *   every destination.
 * - Every other character stands for itself; there is no escape for a literal `*`, and
 *   three or more `*` in a row are an error.
 */
import type { Action, AuthorizeHook, ConnectionInfo } from '../broker/options.js';
import { isAnonymous } from './users.js';

export interface AccessRule {
  users?: string[];
  groups?: string[];
  destinations: string[];
  allow: Array<'read' | 'write'>;
}

/** Most decisions remembered; the cache is cleared oldest-first beyond this. */
const CACHE_MAX = 10_000;
/** Decisions on longer keys (login and destination) are not remembered, to bound memory. */
const CACHE_MAX_KEY = 512;

/** Compiles a destination pattern (see the module comment) to an anchored RegExp. */
export function compilePattern(pattern: string): RegExp {
  if (typeof pattern !== 'string' || pattern === '')
    throw new TypeError('a destination pattern must be a non-empty string');
  if (pattern.includes('***'))
    throw new TypeError(`destination pattern ${pattern}: at most two * in a row`);
  let source = '^';
  for (const part of pattern.split(/(\*\*|\*)/)) {
    if (part === '**') source += '[\\s\\S]*';
    else if (part === '*') source += '[^/]*';
    else source += part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(source + '$');
}

interface CompiledRule {
  everyone: boolean;
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  read: boolean;
  write: boolean;
  destinations: RegExp;
}

function stringArray(v: unknown, what: string, nonEmpty: boolean): string[] {
  if (v === undefined && !nonEmpty) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== ''))
    throw new TypeError(`${what} must be an array of non-empty strings`);
  if (nonEmpty && v.length === 0) throw new TypeError(`${what} must not be empty`);
  return v as string[];
}

function compileRule(rule: AccessRule, i: number): CompiledRule {
  const at = `rules[${i}]`;
  if (typeof rule !== 'object' || rule === null) throw new TypeError(`${at} must be an object`);
  const users = stringArray(rule.users, `${at}.users`, false);
  const groups = stringArray(rule.groups, `${at}.groups`, false);
  if (users.length === 0 && groups.length === 0)
    throw new TypeError(`${at} must name users or groups`);
  const allow = stringArray(rule.allow, `${at}.allow`, true);
  for (const a of allow) {
    if (a !== 'read' && a !== 'write')
      throw new TypeError(`${at}.allow: ${JSON.stringify(a)} is not read or write`);
  }
  const patterns = stringArray(rule.destinations, `${at}.destinations`, true);
  const sources = patterns.map((p, j) => {
    try {
      return compilePattern(p).source.slice(1, -1);
    } catch (err) {
      throw new TypeError(`${at}.destinations[${j}]: ${(err as Error).message}`, { cause: err });
    }
  });
  return {
    everyone: users.includes('*'),
    users: new Set(users),
    groups: new Set(groups),
    read: allow.includes('read'),
    write: allow.includes('write'),
    destinations: new RegExp(`^(?:${sources.join('|')})$`),
  };
}

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NO_GROUPS: readonly string[] = [];

/**
 * An `authorize` hook enforcing `rules` (see the module comment): default deny when there
 * are rules, allow everything when there are none. `groupsOf` gives a login's groups; it is
 * asked on every call, so a reloaded users file's groups take effect at once. Decisions are
 * cached per (login, action, destination), and re-made when the login's groups change.
 * Throws TypeError naming the rule when a rule is malformed.
 */
export function rulesAuthorizer(
  rules: AccessRule[],
  groupsOf: (login: string) => readonly string[],
): AuthorizeHook {
  if (!Array.isArray(rules)) throw new TypeError('rules must be an array');
  const compiled = rules.map(compileRule);
  if (compiled.length === 0) return () => true;

  const decide = (
    login: string | undefined,
    groups: readonly string[],
    action: Action,
    destination: string,
  ): boolean => {
    for (const r of compiled) {
      if (!(action === 'read' ? r.read : r.write)) continue;
      const applies =
        r.everyone ||
        (login !== undefined && (r.users.has(login) || groups.some((g) => r.groups.has(g))));
      if (applies && r.destinations.test(destination)) return true;
    }
    return false;
  };

  const cache = new Map<string, { groups: readonly string[]; allowed: boolean }>();
  return (connection: ConnectionInfo, action: Action, destination: string): boolean => {
    const raw = connection.login;
    const login = isAnonymous(raw) ? undefined : raw;
    const groups = login === undefined ? NO_GROUPS : groupsOf(login);
    // Unambiguous: the action letter, then '-' (anonymous) or the login's length and login.
    const key =
      (action === 'read' ? 'r' : 'w') +
      (login === undefined ? '-' : `${login.length}:${login}`) +
      destination;
    if (key.length > CACHE_MAX_KEY) return decide(login, groups, action, destination);
    const hit = cache.get(key);
    if (hit !== undefined && sameGroups(hit.groups, groups)) return hit.allowed;
    const allowed = decide(login, groups, action, destination);
    if (hit === undefined && cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, { groups, allowed });
    return allowed;
  };
}
