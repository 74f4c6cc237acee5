/**
 * Users, their passcodes and groups: the users file, `coilmq passwd`'s writer, and an
 * `authenticate` hook over them.
 *
 * ## The users file
 *
 * Plain text in UTF-8, one user per line, no parser needed:
 *
 *     # comment
 *     login:scrypt$N$r$p$SALT$HASH
 *     login:scrypt$N$r$p$SALT$HASH:group1,group2
 *
 * - `login` is everything before the first `:`. Logins are case-sensitive, non-empty, and
 *   contain no `:` and no whitespace; they do not start with `#`.
 * - `scrypt$N$r$p$SALT$HASH` is the passcode hashed with scrypt (`node:crypto`): cost
 *   parameters N, r and p in decimal, then the salt and the derived key in standard base64.
 *   {@link hashPasscode} makes one (N=16384, r=8, p=1, 16-byte random salt, 32-byte key).
 *   The passcode itself may contain anything (`:`, `\`, spaces): only its hash is stored.
 * - The optional third field lists the user's groups, comma-separated (no spaces; group
 *   names contain no `,`, `:` or whitespace). Groups are used by the access rules.
 * - Lines whose first non-blank character is `#` are comments; blank lines are ignored;
 *   leading and trailing whitespace on a line is ignored. Anything else is an error naming
 *   the file and line, as is a login listed twice.
 *
 * ## CoilMQ's `[auth]` file (migration)
 *
 * A file whose first non-blank, non-comment line is a `[section]` header is read as
 * CoilMQ's ini file (`auth.simple.file`): the `[auth]` section's `user = password` (or
 * `user: password`) lines, plaintext, read as Python's ConfigParser did for CoilMQ: keys
 * and values are trimmed, keys are lowercased (so the logins that worked with CoilMQ work
 * here, and no others), `#` and `;` start comment lines, indented lines continue a value,
 * `%%` is `%` and `%(name)s` is another key's value, and `[DEFAULT]` keys count too. Loading
 * one logs a warning: plaintext passwords are deprecated, `coilmq passwd` makes a users
 * file. Such users have no groups.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuthenticateHook, Logger } from '../broker/options.js';

/** Cost parameters of new hashes. */
const N = 16384;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** Bounds on the parameters read from a file, so that one line cannot exhaust memory or CPU. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

const NO_GROUPS: readonly string[] = Object.freeze([]);

interface ScryptSecret {
  readonly kind: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** A CoilMQ plaintext password, kept as its SHA-256 so comparison is constant-time. */
interface PlainSecret {
  readonly kind: 'plain';
  readonly digest: Buffer;
}

type Secret = ScryptSecret | PlainSecret;

interface User {
  readonly secret: Secret;
  readonly groups: readonly string[];
}

/** An anonymous connection: no `login` header, or an empty one. */
export function isAnonymous(login: string | undefined): login is undefined | '' {
  return login === undefined || login === '';
}

function scryptOptions(s: { N: number; r: number; p: number }): ScryptOptions {
  // OpenSSL needs about 128·r·(N + p + 2) bytes; leave room.
  return { N: s.N, r: s.r, p: s.p, maxmem: 256 * s.r * (s.N + s.p + 2) + (1 << 20) };
}

function scryptAsync(passcode: string, s: ScryptSecret): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passcode, s.salt, s.key.length, scryptOptions(s), (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Hashes a passcode for the users file: `scrypt$16384$8$1$SALT$HASH` (synchronous). */
export function hashPasscode(passcode: string): string {
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(passcode, salt, KEY_BYTES, scryptOptions({ N, r: R, p: P }));
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;

/** Parses `scrypt$N$r$p$SALT$HASH`; returns an error message when it is not one. */
function parseHash(text: string): ScryptSecret | string {
  const parts = text.split('$');
  if (parts[0] !== 'scrypt') return 'the passcode hash must start with scrypt$';
  if (parts.length !== 6) return 'expected scrypt$N$r$p$SALT$HASH';
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  if (!DECIMAL.test(n) || !DECIMAL.test(r) || !DECIMAL.test(p))
    return 'scrypt N, r and p must be positive integers';
  const s = { N: Number(n), r: Number(r), p: Number(p) };
  if (s.N < 2 || s.N > MAX_N || (s.N & (s.N - 1)) !== 0)
    return `scrypt N must be a power of two from 2 to ${MAX_N}`;
  if (s.r > MAX_R) return `scrypt r must be at most ${MAX_R}`;
  if (s.p > MAX_P) return `scrypt p must be at most ${MAX_P}`;
  if (!BASE64.test(salt) || !BASE64.test(key)) return 'salt and hash must be base64';
  const saltBuf = Buffer.from(salt, 'base64');
  const keyBuf = Buffer.from(key, 'base64');
  if (saltBuf.length < 8) return 'the salt must be at least 8 bytes';
  if (keyBuf.length < 16 || keyBuf.length > 64) return 'the hash must be 16 to 64 bytes';
  return { kind: 'scrypt', ...s, salt: saltBuf, key: keyBuf };
}

const WHITESPACE = /\s/;
const GROUP_INVALID = /[\s,:]/;

/** Why `login` cannot be in a users file, or undefined when it can. */
function loginProblem(login: string): string | undefined {
  if (login === '') return 'a login must not be empty';
  if (login.includes(':')) return 'a login must not contain ":"';
  if (WHITESPACE.test(login)) return 'a login must not contain whitespace';
  if (login.startsWith('#')) return 'a login must not start with "#"';
  return undefined;
}

function groupProblem(group: string): string | undefined {
  if (group === '') return 'a group name must not be empty';
  if (GROUP_INVALID.test(group)) return 'a group name must not contain ",", ":" or whitespace';
  return undefined;
}

/** The first line that is neither blank nor a comment starts with `[`: CoilMQ's ini file. */
function isIniFormat(text: string): boolean {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    return line.startsWith('[');
  }
  return false;
}

class FileError extends Error {
  constructor(source: string, line: number, message: string) {
    super(`${source}:${line}: ${message}`);
    this.name = 'UsersFileError';
  }
}

function parseUsersFile(text: string, source: string): Map<string, User> {
  const users = new Map<string, User>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (msg: string): never => {
      throw new FileError(source, i + 1, msg);
    };
    const fields = line.split(':');
    if (fields.length < 2 || fields.length > 3)
      fail('expected login:scrypt$N$r$p$SALT$HASH[:group,...]');
    const [login, hash, groupList] = fields as [string, string, string | undefined];
    const lp = loginProblem(login);
    if (lp !== undefined) fail(lp);
    if (users.has(login)) fail(`user ${login} is listed twice`);
    const secret = parseHash(hash);
    if (typeof secret === 'string') fail(`user ${login}: ${secret}`);
    let groups = NO_GROUPS;
    if (groupList !== undefined && groupList !== '') {
      const list = groupList.split(',');
      for (const g of list) {
        const gp = groupProblem(g);
        if (gp !== undefined) fail(`user ${login}: ${gp}`);
      }
      groups = Object.freeze([...new Set(list)]);
    }
    users.set(login, { secret: secret as ScryptSecret, groups });
  }
  return users;
}

/** Reads CoilMQ's ini file as ConfigParser does (see the module comment). */
function parseIniFile(text: string, source: string): Map<string, User> {
  const sections = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  let lastKey: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    const line = raw.trim();
    const fail = (msg: string): never => {
      throw new FileError(source, i + 1, msg);
    };
    if (line === '') {
      lastKey = undefined;
      continue;
    }
    if (line.startsWith('#') || line.startsWith(';')) continue;
    if (WHITESPACE.test(raw[0]!) && section !== undefined && lastKey !== undefined) {
      section.set(lastKey, `${section.get(lastKey)!}\n${line}`);
      continue;
    }
    const header = /^\[(.+)\]/.exec(line);
    if (header !== null) {
      const name = header[1]!;
      if (sections.has(name)) fail(`section [${name}] appears twice`);
      section = new Map();
      sections.set(name, section);
      lastKey = undefined;
      continue;
    }
    if (section === undefined) fail('expected a [section] header first');
    const eq = line.indexOf('=');
    const colon = line.indexOf(':');
    const at = eq < 0 ? colon : colon < 0 ? eq : Math.min(eq, colon);
    if (at < 0) fail('expected user = password');
    const key = line.slice(0, at).trim().toLowerCase();
    if (key === '') fail('empty user name');
    if (section!.has(key)) fail(`user ${key} is listed twice`);
    section!.set(key, line.slice(at + 1).trim());
    lastKey = key;
  }
  const auth = sections.get('auth');
  if (auth === undefined) throw new Error(`${source}: CoilMQ auth file has no [auth] section`);
  const values = new Map([...(sections.get('DEFAULT') ?? []), ...auth]);
  const resolve = (key: string, depth: number): string => {
    const value = values.get(key)!;
    return value.replace(/%(%|\(([^)]*)\)s|)/g, (m: string, what: string, name?: string) => {
      if (what === '%') return '%';
      const ref = name?.toLowerCase();
      if (ref === undefined || !values.has(ref) || depth >= 10)
        throw new Error(`${source}: [auth] ${key}: bad interpolation ${m} in the password`);
      return resolve(ref, depth + 1);
    });
  };
  const users = new Map<string, User>();
  // Any key is a login here (CoilMQ took them all), spaces included: only coilmq's own
  // format restricts logins, for its syntax.
  for (const key of values.keys()) {
    users.set(key, {
      secret: { kind: 'plain', digest: sha256(resolve(key, 0)) },
      groups: NO_GROUPS,
    });
  }
  return users;
}

/** Checks `passcode` against `secret` in constant time (for a given secret). */
async function matches(secret: Secret, passcode: string): Promise<boolean> {
  if (secret.kind === 'plain') return timingSafeEqual(sha256(passcode), secret.digest);
  const key = await scryptAsync(passcode, secret);
  return timingSafeEqual(key, secret.key);
}

/**
 * The users of a users file (or of CoilMQ's `[auth]` file), loaded once; reloading makes
 * a new database. Logins are case-sensitive.
 */
export class UserDatabase {
  /** `users`: coilmq's users file; `coilmq-ini`: CoilMQ's plaintext `[auth]` file. */
  readonly format: 'users' | 'coilmq-ini';
  private readonly users: Map<string, User>;
  /** What an unknown login is checked against, so it costs what a known one does. */
  private readonly dummy: Secret;

  private constructor(users: Map<string, User>, format: 'users' | 'coilmq-ini') {
    this.users = users;
    this.format = format;
    this.dummy =
      format === 'coilmq-ini'
        ? { kind: 'plain', digest: randomBytes(32) }
        : {
            kind: 'scrypt',
            N,
            r: R,
            p: P,
            salt: randomBytes(SALT_BYTES),
            key: randomBytes(KEY_BYTES),
          };
  }

  /**
   * Reads a users file (or CoilMQ's `[auth]` file, with a warning on `log`). Rejects with an
   * error naming the file (and line) when it cannot be read or is malformed.
   */
  static async load(file: string, log?: Pick<Logger, 'warn'>): Promise<UserDatabase> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`cannot read users file ${file}: ${e.code ?? e.message}`, { cause: err });
    }
    return UserDatabase.parse(text, file, log);
  }

  /** As {@link load}, from the file's text; `source` names it in errors and warnings. */
  static parse(text: string, source = 'users file', log?: Pick<Logger, 'warn'>): UserDatabase {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (!isIniFormat(text)) return new UserDatabase(parseUsersFile(text, source), 'users');
    const db = new UserDatabase(parseIniFile(text, source), 'coilmq-ini');
    log?.warn(
      { file: source, users: db.size },
      `${source} is a CoilMQ [auth] file with plaintext passwords, which are deprecated: ` +
        'create a users file with hashed passcodes with `coilmq passwd FILE USER`',
    );
    return db;
  }

  /** Number of users. */
  get size(): number {
    return this.users.size;
  }

  has(login: string): boolean {
    return this.users.has(login);
  }

  /** The user's groups; none for an unknown user. */
  groups(login: string): readonly string[] {
    return this.users.get(login)?.groups ?? NO_GROUPS;
  }

  /**
   * True when `login` is a user and `passcode` is theirs. Comparison is constant-time, and
   * an unknown login is hashed like a known one, so timing does not tell them apart.
   * Hashing runs on libuv's thread pool: the event loop is not blocked.
   */
  async verify(login: string | undefined, passcode: string | undefined): Promise<boolean> {
    if (login === undefined || passcode === undefined) return false;
    const user = this.users.get(login);
    const ok = await matches(user?.secret ?? this.dummy, passcode);
    return ok && user !== undefined;
  }
}

/**
 * Sets `login`'s passcode in the users file `file`, creating the file (mode 0600) when it
 * does not exist. The user's line is replaced in place, or appended; every other line and
 * comment is kept. `groups` replaces the user's groups; when it is not given an existing
 * user keeps theirs (a new user has none). The file is replaced atomically (a temporary
 * file in the same directory, then rename), keeping its mode.
 *
 * Rejects a login that is empty, contains `:` or whitespace or starts with `#`, an empty
 * passcode or one containing a line feed (no STOMP client could send it), invalid group
 * names, a malformed users file, and CoilMQ's ini file (start a new users file instead).
 * A symbolic link is followed: the file it points to is replaced. Concurrent calls on one
 * file are not serialized (the last rename wins).
 */
export async function setPasscode(
  file: string,
  login: string,
  passcode: string,
  groups?: string[],
): Promise<void> {
  const lp = loginProblem(login);
  if (lp !== undefined) throw new Error(`invalid login ${JSON.stringify(login)}: ${lp}`);
  if (passcode === '') throw new Error('the passcode must not be empty');
  if (passcode.includes('\n')) throw new Error('the passcode must not contain a line feed');
  for (const g of groups ?? []) {
    const gp = groupProblem(g);
    if (gp !== undefined) throw new Error(`invalid group ${JSON.stringify(g)}: ${gp}`);
  }

  // Through a symbolic link, the file it points to is the one rewritten.
  file = await realpath(file).catch(() => file);
  let text = '';
  let mode = 0o600;
  try {
    text = await readFile(file, 'utf8');
    mode = (await stat(file)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (isIniFormat(text)) {
    throw new Error(
      `${file} is a CoilMQ [auth] file with plaintext passwords; write hashed passcodes to a new users file instead`,
    );
  }
  parseUsersFile(text, file); // refuse to build on a malformed file

  const lines = text === '' ? [] : text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // the final newline
  let found = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields[0] !== login) continue;
    const keep = groups === undefined ? fields[2] : groups.join(',');
    lines[i] = entry(login, passcode, keep) + (raw.endsWith('\r') ? '\r' : '');
    found = true;
  }
  if (!found) lines.push(entry(login, passcode, groups?.join(',')));
  await writeAtomically(file, lines.join('\n') + '\n', mode);
}

function entry(login: string, passcode: string, groups: string | undefined): string {
  const line = `${login}:${hashPasscode(passcode)}`;
  return groups === undefined || groups === '' ? line : `${line}:${groups}`;
}

async function writeAtomically(file: string, data: string, mode: number): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.chmod(mode); // exact, whatever the umask
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // Make the rename itself durable (not possible everywhere: best effort).
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // ignore
  }
}

export interface UsersAuthenticatorOptions {
  /** Let connections without a login (no `login` header, or an empty one) in. */
  anonymous: boolean;
  /**
   * Milliseconds after the CONNECT arrived before a refusal is answered (default 1000):
   * slows down guessing, and makes every refusal take the same time.
   */
  failureDelayMs?: number;
}

/**
 * An `authenticate` hook over a user database. `db` is called for every login, so a
 * reload (SIGHUP) only has to swap the database it returns: connections already made are
 * not affected. A refused login resolves false `failureDelayMs` after the attempt began;
 * nothing is logged here (the broker logs AUTH_FAILED with the remote address).
 */
export function usersAuthenticator(
  db: () => UserDatabase,
  options: UsersAuthenticatorOptions,
): AuthenticateHook {
  const delay = options.failureDelayMs ?? 1000;
  if (!(delay >= 0)) throw new TypeError(`failureDelayMs must be non-negative, got ${delay}`);
  const refuse = async (started: number): Promise<false> => {
    const wait = started + delay - Date.now();
    if (wait > 0) await sleep(wait);
    return false;
  };
  return (login, passcode, connection) => {
    // A verified client certificate has proved the login already; the users file then
    // only supplies its groups.
    if (connection.certificateLogin !== undefined && login === connection.certificateLogin) {
      return true;
    }
    const started = Date.now();
    if (isAnonymous(login)) return options.anonymous ? true : refuse(started);
    return db()
      .verify(login, passcode)
      .then((ok) => ok || refuse(started));
  };
}
