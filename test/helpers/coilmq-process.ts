/**
 * The real `coilmq` binary (`node bin/coilmq.js`, which loads dist/) as a child process,
 * for the durability tests: start it on a data directory, kill it (SIGKILL: a crash;
 * SIGTERM: a clean stop), start it again on the same directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'coilmq.js');

export interface LogEntry {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running coilmq child process, its output collected as it comes. */
export interface Watched {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout lines that parsed as JSON (pino). */
  logs: LogEntry[];
  exited: Promise<Exit>;
  /** The first log line with this message (and matching `match`, if given), waiting for it. */
  waitForLog(msg: string, match?: (l: LogEntry) => boolean, ms?: number): Promise<LogEntry>;
  /** Sends the signal (if still running) and waits for the exit. */
  kill(signal: NodeJS.Signals, ms?: number): Promise<Exit>;
}

export interface CoilmqProcess extends Watched {
  /** The TCP port it was told to listen on. */
  port: number;
}

/** Every process started here, so that a test's cleanup can SIGKILL what is left. */
const running = new Set<ChildProcess>();

/** SIGKILLs every process started here that is still running. */
export function killAll(): void {
  for (const c of running) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  running.clear();
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const t = e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

function distIsCurrent(): boolean {
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(main)) return false;
  return fs.statSync(main).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
}

/**
 * Builds dist/ (`npx tsc -p tsconfig.build.json`) when it is missing or older than src/.
 * Test files run side by side, so the build is guarded by a lock directory (the same one
 * test/helpers/coilmq-process.ts uses): one process builds, the others wait for it.
 */
export async function ensureBuilt(): Promise<void> {
  if (distIsCurrent()) return;
  const lock = path.join(os.tmpdir(), `coilmq-build-${Buffer.from(ROOT).toString('hex')}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = fs.statSync(lock, { throwIfNoEntry: false });
    if (st !== undefined && Date.now() - st.mtimeMs > 120_000) {
      fs.rmSync(lock, { recursive: true, force: true });
    }
    if (Date.now() > deadline) throw new Error(`build lock ${lock} held for too long`);
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    if (!distIsCurrent()) {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** A fresh temporary directory, for a data directory. */
export function tempDir(prefix = 'coilmq-durability-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** What a test file that starts coilmq processes cleans up (see processTestScope). */
export interface ProcessTestScope {
  /** A new temporary data directory, removed after the file's tests. */
  dataDir(): string;
  /** Destroys `s` at the end of the test (or at closeSockets). */
  track<T extends { destroy(): void }>(s: T): T;
  /** Destroys every tracked socket now. */
  closeSockets(): void;
}

/**
 * Registers the file's clean-up: after each test its tracked sockets are destroyed and every
 * coilmq it started is killed; after the file, its data directories are removed.
 */
export function processTestScope(prefix: string): ProcessTestScope {
  const dirs: string[] = [];
  const sockets: Array<{ destroy(): void }> = [];
  const closeSockets = (): void => {
    for (const s of sockets.splice(0)) s.destroy();
  };
  afterEach(() => {
    closeSockets();
    killAll();
  });
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  return {
    dataDir() {
      const d = tempDir(prefix);
      dirs.push(d);
      return d;
    },
    track(s) {
      sockets.push(s);
      return s;
    },
    closeSockets,
  };
}

/**
 * Spawns `node bin/coilmq.js ARGS` (no waiting). The caller gives every flag, the data
 * directory included, so that no test touches ./data.
 */
export function spawnCoilmq(args: string[], port = 0): CoilmqProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return { ...watch(child), port };
}

/** Collects a coilmq child's stdout, stderr and JSON log lines, and its exit. */
export function watch(child: ChildProcess): Watched {
  let out = '';
  let err = '';
  let partial = '';
  const logs: LogEntry[] = [];
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    partial += d;
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as LogEntry);
      } catch {
        // not a log line
      }
    }
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    wake();
  });
  let exitedNow = false;
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => {
      exitedNow = true;
      resolve({ code, signal });
      wake();
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    async waitForLog(msg, match = () => true, ms = 15_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = logs.find((l) => l.msg === msg && match(l));
        if (found) return found;
        if (exitedNow) throw new Error(`coilmq exited before logging "${msg}": ${out}${err}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no "${msg}" log line within ${ms} ms: ${out}${err}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    async kill(signal, ms = 15_000) {
      if (!exitedNow) child.kill(signal);
      return within(exited, ms, `coilmq to exit after ${signal}`);
    },
  };
}

/**
 * Starts `coilmq -b 127.0.0.1 -p <free port> --ws-port 0 --data-dir DIR` and waits until
 * it logs "coilmq started". A port taken between freePort() and the listen (by a test
 * running beside this one) is retried with another port.
 */
export async function startCoilmq(dataDir: string, extra: string[] = []): Promise<CoilmqProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const p = spawnCoilmq(
      ['-b', '127.0.0.1', '-p', String(port), '--ws-port', '0', '--data-dir', dataDir, ...extra],
      port,
    );
    try {
      const started = await p.waitForLog('coilmq started');
      if (started.port !== port) throw new Error(`started on ${String(started.port)}, not ${port}`);
      return p;
    } catch (err) {
      await p.kill('SIGKILL');
      if (attempt < 3 && /EADDRINUSE/.test(p.stdout() + p.stderr())) continue;
      throw err;
    }
  }
}
