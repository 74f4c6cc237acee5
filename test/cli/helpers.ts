/**
 * The real `coilmq` binary (`node bin/coilmq.js`, which loads dist/) as a child process, for
 * the CLI and configuration tests: temporary files and directories, an environment without
 * the caller's COILMQ_ variables, JSON log lines, and STOMP logins over real sockets.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach } from 'node:test';
import type { Frame } from '../../src/protocol/index.js';
import { RawClient } from '../helpers/raw-client.js';

import {
  BIN,
  ROOT,
  freePort,
  watch,
  within,
  type LogEntry,
  type Watched,
} from '../helpers/coilmq-process.js';

export {
  BIN,
  ROOT,
  ensureBuilt,
  freePort,
  within,
  type Exit,
  type LogEntry,
} from '../helpers/coilmq-process.js';

export type Cli = Watched;

export interface SpawnOptions {
  /** Added to an environment from which every COILMQ_ variable was removed. */
  env?: Record<string, string>;
  /** Written to standard input, which is then closed; absent: no standard input. */
  stdin?: string;
  cwd?: string;
}

const children = new Set<ChildProcess>();
const sockets: Array<{ destroy(): void }> = [];
const dirs: string[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
});

after(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(prefix = 'coilmq-cli-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Writes `text` to `name` in `dir`; returns the path. */
export function writeFile(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COILMQ_')) env[k] = v;
  return { ...env, ...extra };
}

/** Spawns `node bin/coilmq.js ARGS` (no waiting). */
export function spawnCli(args: string[], opts: SpawnOptions = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: cleanEnv(opts.env),
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  child.on('exit', () => children.delete(child));
  return watch(child);
}

/** Runs the command to completion. */
export async function runCli(
  args: string[],
  opts: SpawnOptions = {},
  ms = 15_000,
): Promise<{ code: number | null; out: string; err: string }> {
  const c = spawnCli(args, opts);
  const { code } = await within(c.exited, ms, `coilmq ${args.join(' ')} to exit`);
  return { code, out: c.stdout(), err: c.stderr() };
}

/**
 * Starts coilmq on 127.0.0.1 and a free port (given as `-p`, unless `port` says how:
 * 'file' when the test's configuration names it) and waits for "coilmq started". Every
 * run gets its own data directory unless `args` or the configuration chooses the store.
 * WebSocket is off unless `args` turns it on.
 */
export async function startCli(
  args: string[] = [],
  opts: SpawnOptions & { flagPort?: boolean; dataDir?: boolean } = {},
): Promise<{ c: Cli; port: number; started: LogEntry }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const extra: string[] = [];
    if (opts.flagPort !== false) extra.push('-b', '127.0.0.1', '-p', String(port));
    if (!args.includes('--ws-port')) extra.push('--ws-port', '0');
    if (opts.dataDir !== false && !args.includes('--store') && !args.includes('--data-dir')) {
      extra.push('--data-dir', tempDir('coilmq-data-'));
    }
    const c = spawnCli([...extra, ...args], opts);
    try {
      const started = await c.waitForLog('coilmq started');
      return { c, port: started.port as number, started };
    } catch (err) {
      await c.kill('SIGKILL');
      if (attempt < 3 && /EADDRINUSE/.test(c.stdout() + c.stderr())) continue;
      throw err;
    }
  }
}

/** Keeps a socket to be destroyed after the test. */
export function track<T extends { destroy(): void }>(s: T): T {
  sockets.push(s);
  return s;
}

/** The bytes of a CONNECT frame; header values are written as given (never escaped). */
export function connectFrame(login?: string, passcode?: string): string {
  let text = 'CONNECT\naccept-version:1.2\nhost:localhost\n';
  if (login !== undefined) text += `login:${login}\n`;
  if (passcode !== undefined) text += `passcode:${passcode}\n`;
  return text + '\n\0';
}

/** Opens a connection and sends CONNECT; returns the client and the broker's answer. */
export async function tryLogin(
  port: number,
  login?: string,
  passcode?: string,
): Promise<{ client: RawClient; frame: Frame }> {
  const client = track(await RawClient.open(port));
  client.write(connectFrame(login, passcode));
  const frame = await client.next();
  if (frame.command === 'CONNECTED') client.parser.version = '1.2';
  return { client, frame };
}

/** A login that must be accepted. */
export async function login(port: number, user?: string, passcode?: string): Promise<RawClient> {
  const { client, frame } = await tryLogin(port, user, passcode);
  assert.equal(
    frame.command,
    'CONNECTED',
    `${user ?? '(anonymous)'} refused: ${frame.header('code')} ${frame.header('message')}`,
  );
  return client;
}

/** A login that must be refused: ERROR AUTH_FAILED, then the connection closes. */
export async function refused(port: number, user?: string, passcode?: string): Promise<Frame> {
  const { client, frame } = await tryLogin(port, user, passcode);
  assert.equal(frame.command, 'ERROR', `${user ?? '(anonymous)'} was let in`);
  assert.equal(frame.header('code'), 'AUTH_FAILED');
  await client.waitClosed();
  return frame;
}

/** `coilmq passwd FILE USER` with the passcode on standard input. */
export async function setPasscode(
  file: string,
  user: string,
  passcode: string,
  extra: string[] = [],
): Promise<void> {
  const r = await runCli(['passwd', file, user, ...extra], { stdin: `${passcode}\n` });
  assert.equal(r.code, 0, r.err);
}

/** SUBSCRIBE + SEND on one queue through `client`: the message comes back. */
export async function roundTrip(client: RawClient, queue = '/queue/cli'): Promise<void> {
  const id = `s${Math.random().toString(36).slice(2)}`;
  client.write(`SUBSCRIBE\nid:${id}\ndestination:${queue}\nreceipt:r-${id}\n\n\0`);
  assert.equal((await client.expect('RECEIPT')).header('receipt-id'), `r-${id}`);
  client.write(`SEND\ndestination:${queue}\n\nping ${id}\0`);
  const m = await client.expect('MESSAGE');
  assert.equal(m.body.toString(), `ping ${id}`);
  client.write(`UNSUBSCRIBE\nid:${id}\nreceipt:u-${id}\n\n\0`);
  assert.equal((await client.expect('RECEIPT')).header('receipt-id'), `u-${id}`);
}
