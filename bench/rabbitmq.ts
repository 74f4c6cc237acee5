/**
 * RabbitMQ with its STOMP plugin, for side-by-side runs (npm run bench:compare): installed
 * from Debian's packages when missing, started on loopback in a directory of its own (its
 * own node name, ports, data and logs, so it never touches a system instance), stopped
 * afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface RabbitMq {
  /** The STOMP port, on 127.0.0.1. */
  port: number;
  version: string;
  /** The Erlang VM's process id, for RSS samples. */
  pid: number;
  stop(): Promise<void>;
}

/** Installs rabbitmq-server from Debian's packages if it is not there, without starting the system service. */
export function ensureInstalled(log: (s: string) => void = console.error): void {
  if (fs.existsSync(SERVER)) return;
  log('installing rabbitmq-server from Debian packages ...');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]): void => {
    execFileSync(sudo.length ? 'sudo' : args[0]!, sudo.length ? args : args.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  };
  // policy-rc.d exit 101 keeps the package from starting the system-wide broker.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = fs.existsSync(policy);
  if (!hadPolicy) fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', 'rabbitmq-server']);
  } finally {
    if (!hadPolicy) fs.rmSync(policy, { force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline)
          reject(new Error(`nothing listening on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 250);
      });
    };
    attempt();
  });
}

function packageVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** Finds the Erlang VM started under `sh` (the server script execs into it, or forks it). */
function beamPid(dir: string, fallback: number): number {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('beam.smp') && cmd.includes(dir)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return fallback;
}

/** Starts a private RabbitMQ with rabbitmq_stomp on a free loopback port. */
export async function startRabbitMq(): Promise<RabbitMq> {
  ensureInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-bench-rabbitmq-'));
  const [port, amqp, dist] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${amqp}`,
      `stomp.listeners.tcp.1 = 127.0.0.1:${port}`,
      'loopback_users = none',
      'log.console = false',
      `log.file = ${path.join(dir, 'rabbit.log')}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_stomp].\n');
  const node = `coilbench${process.pid}@localhost`;
  const env = {
    ...process.env,
    HOME: dir,
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const child: ChildProcess = spawn(SERVER, [], { env, stdio: 'ignore', detached: true });
  try {
    await waitForPort(port, 60_000);
  } catch (err) {
    process.kill(-child.pid!, 'SIGKILL');
    throw err;
  }
  const pid = beamPid(dir, child.pid!);
  return {
    port,
    pid,
    version: packageVersion(),
    async stop() {
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 15_000);
      await exited;
      clearTimeout(timer);
      // The VM may outlive its script; make sure it is gone before the directory is.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
