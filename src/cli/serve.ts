/**
 * Runs the broker as the `coilmq` command: logging, users and access rules, the pidfile,
 * and the signals (SIGINT/SIGTERM stop, SIGHUP reloads). Signals are handled here, never in
 * the library.
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pino, type Logger as PinoLogger } from 'pino';
import { rulesAuthorizer } from '../auth/acl.js';
import { UserDatabase, usersAuthenticator } from '../auth/users.js';
import { startBroker, VERSION, type Broker } from '../server.js';
import type { BrokerOptions } from '../broker/options.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/load.js';
import { settingOptions, type Config } from '../config/schema.js';
import { SqliteStore } from '../store/sqlite.js';
import { DataDirLock } from './datalock.js';
import { banner, prettyDestination } from './pretty-log.js';
import { removePidfile, writePidfile } from './pidfile.js';

/** Exit code after a second SIGINT/SIGTERM during a clean stop: 128 + SIGINT, as shells do. */
export const EXIT_FORCED = 130;
/** Exit code of a configuration that cannot be used. */
export const EXIT_CONFIG = 2;

type Destination = ReturnType<typeof pino.destination>;

function readPem(loaded: LoadedConfig, key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError([`${loaded.describe(key)}: cannot read ${file}: ${e.code ?? e.message}`]);
  }
}

/** The library options of a configuration, without the hooks and the logger. */
function brokerOptions(loaded: LoadedConfig): BrokerOptions {
  const c = loaded.config;
  const o = settingOptions(c);
  const t = c.listeners.tls;
  if (t !== undefined) {
    o.tls = {
      cert: readPem(loaded, 'listeners.tls.cert', t.cert),
      key: readPem(loaded, 'listeners.tls.key', t.key),
      requestCert: t.requireClientCert,
    };
    if (t.ca !== undefined) o.tls.ca = readPem(loaded, 'listeners.tls.ca', t.ca);
  }
  if (c.store.kind === 'sqlite') {
    // Durable by default: queues live in an SQLite database under the data directory.
    o.store = new SqliteStore({
      path: path.resolve(c.store.dataDir, 'coilmq.db'),
      synchronous: c.store.synchronous === 'normal' ? 'NORMAL' : 'FULL',
      batchWindowMs: c.store.batchWindowMs,
    });
  }
  return o;
}

/** The logger: JSON lines on standard output, or appended to `logging.file`. */
function makeLogger(loaded: LoadedConfig): {
  logger: PinoLogger;
  dest: Destination | undefined;
  pretty: boolean;
} {
  const { level, file, format } = loaded.config.logging;
  let dest: Destination | undefined;
  if (file !== undefined) {
    try {
      closeSync(openSync(file, 'a'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError([
        `${loaded.describe('logging.file')}: cannot open ${file}: ${e.code ?? e.message}`,
      ]);
    }
    dest = pino.destination({ dest: file, sync: false });
  }
  const options = { name: 'coilmq', level };
  if (dest !== undefined) return { logger: pino(options, dest), dest, pretty: false };
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (pretty) return { logger: pino(options, prettyDestination(process.stdout)), dest, pretty };
  return { logger: pino(options), dest, pretty };
}

/** The ports the configuration listens on (0, any free port, is never in use), with their flags. */
function ports(c: Config): Array<[number, string]> {
  const l = c.listeners;
  const out: Array<[number, string]> = [[l.port, '-p/--port']];
  if (l.wsPort !== 0) out.push([l.wsPort, '--ws-port']);
  if (l.tls !== undefined && l.tls.port !== 0) out.push([l.tls.port, '--tls-port']);
  if (l.tls?.wssPort !== undefined && l.tls.wssPort !== 0) out.push([l.tls.wssPort, '--wss-port']);
  return out.filter(([p]) => p !== 0);
}

function portFlag(port: number, c: Config): string {
  return ports(c).find(([p]) => p === port)?.[1] ?? 'the port settings';
}

/** The first configured port that something else already listens on, if any. */
async function portInUse(c: Config): Promise<number | undefined> {
  for (const [port] of ports(c)) {
    const inUse = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
      probe.listen(port, c.listeners.host, () => probe.close(() => resolve(false)));
    });
    if (inUse) return port;
  }
  return undefined;
}

function storeSummary(c: Config): object {
  if (c.store.kind === 'memory') return { kind: 'memory' };
  return {
    kind: 'sqlite',
    path: path.resolve(c.store.dataDir, 'coilmq.db'),
    synchronous: c.store.synchronous,
    batchWindowMs: c.store.batchWindowMs,
  };
}

const LOOPBACK = /^(?:127\.|::1$|localhost$)/;

/** The parent process as coilmq started, read first of all (see watchLauncher). */
const launcherPid = process.ppid;

/**
 * Started through npm (`npm start`, `npx coilmq`), coilmq is a grandchild of the npm process,
 * and a SIGTERM sent to npm (what `kill $!`, a container's entry point or a process manager
 * sends) does not reach it: npm exits and coilmq is left running, re-parented. So when npm
 * started it, the launcher going away (its parent process changes) stops coilmq as SIGTERM
 * would. Started otherwise (a shell, systemd, `nohup`), nothing is watched.
 */
function watchLauncher(parent: number, onGone: () => void): NodeJS.Timeout | undefined {
  if (process.env.npm_command === undefined) return undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone();
    }
  }, 500);
  timer.unref();
  return timer;
}

/**
 * Starts the broker described by `loaded` and runs until SIGINT or SIGTERM. Resolves with
 * the exit code: 0 after a clean stop, 1 when it cannot start, 2 on a bad configuration.
 */
export async function serve(loaded: LoadedConfig): Promise<number> {
  const config = loaded.config;
  const complain = (message: string): void => void process.stderr.write(`coilmq: ${message}\n`);

  let options: BrokerOptions;
  let logger: PinoLogger;
  let dest: Destination | undefined;
  let pretty: boolean;
  try {
    options = brokerOptions(loaded);
    ({ logger, dest, pretty } = makeLogger(loaded));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) complain(p);
    return EXIT_CONFIG;
  }
  const flushSync = (): void => {
    try {
      dest?.flushSync();
    } catch {
      // not open yet, or closed: nothing buffered that can be written
    }
  };
  const flush = (): Promise<void> => new Promise((resolve) => logger.flush(() => resolve()));

  // Users and access rules. A reload (SIGHUP) swaps the database the hooks read.
  const usersFile = config.auth.usersFile;
  let users: UserDatabase | undefined;
  if (usersFile !== undefined) {
    try {
      users = await UserDatabase.load(usersFile, logger);
    } catch (err) {
      complain(`${loaded.describe('auth.usersFile')}: ${(err as Error).message}`);
      logger.fatal({ err, file: usersFile }, 'cannot load the users file');
      await flush();
      return EXIT_CONFIG;
    }
    options.authenticate = usersAuthenticator(() => users!, {
      anonymous: config.auth.anonymous,
      failureDelayMs: config.auth.failureDelayMs,
    });
  }
  let reloads = 0;
  const reloadUsers = async (): Promise<void> => {
    if (usersFile === undefined) return;
    const n = ++reloads;
    try {
      const next = await UserDatabase.load(usersFile, logger);
      if (n !== reloads) return; // a later reload started meanwhile: it decides
      users = next;
      logger.info({ file: usersFile, users: next.size }, 'users file reloaded');
    } catch (err) {
      logger.error(
        { file: usersFile, err },
        'users file reload failed: keeping the users loaded before',
      );
    }
  };
  const groupsOf = (login: string): readonly string[] => users?.groups(login) ?? [];
  if (config.acl.length > 0) options.authorize = rulesAuthorizer(config.acl, groupsOf);

  // The pidfile, before listening: a second instance stops here.
  const pidfile = config.pidfile;
  if (pidfile !== undefined) {
    try {
      writePidfile(pidfile);
    } catch (err) {
      complain((err as Error).message);
      logger.fatal({ err, pidfile }, 'cannot write the pidfile');
      await flush();
      return 1;
    }
  }

  // One broker per data directory (DataDirLock), taken before listening, like the pidfile.
  // A port in use is found before anything is written, so that such a start leaves nothing.
  const taken = await portInUse(config);
  if (taken !== undefined) {
    if (pidfile !== undefined) removePidfile(pidfile);
    const flag = portFlag(taken, config);
    logger.fatal({ code: 'EADDRINUSE', port: taken, flag }, `port ${taken} is in use`);
    complain(
      `port ${taken} is in use (EADDRINUSE), by another broker perhaps: choose another with ${flag}`,
    );
    await flush();
    return 1;
  }

  let dataLock: DataDirLock | undefined;
  if (config.store.kind === 'sqlite') {
    const dir = path.resolve(config.store.dataDir);
    let dirMade = true;
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      dirMade = false; // opening the store fails next, and says why
    }
    try {
      if (dirMade) dataLock = DataDirLock.acquire(dir);
    } catch (err) {
      if (pidfile !== undefined) removePidfile(pidfile);
      complain((err as Error).message);
      logger.fatal({ err, dataDir: dir }, 'cannot lock the data directory');
      await flush();
      return 1;
    }
  }

  let broker: Broker | undefined;
  let stopping: string | undefined;
  let finish: ((code: number) => void) | undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  // `stop` is called only from the timer, after it is defined below.
  // Once a stop has begun (a Ctrl-C reaches npm and coilmq alike), the launcher going away
  // is no second signal.
  const launcherWatch = watchLauncher(launcherPid, () => {
    if (stopping === undefined) stop('launcher exited');
  });
  const cleanup = (): void => {
    clearInterval(launcherWatch);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('SIGHUP', onSighup);
    if (pidfile !== undefined) removePidfile(pidfile);
    dataLock?.release();
  };

  const close = (b: Broker): void => {
    const timeout = config.shutdownTimeout;
    // If even the store does not finish in time after the connections are gone, give up.
    const failsafe = setTimeout(() => {
      logger.error({ timeout }, 'shutdown did not finish: exiting without it');
      cleanup();
      flushSync();
      process.exit(1);
    }, timeout + 10_000);
    failsafe.unref();
    b.close(timeout).then(
      () => {
        clearTimeout(failsafe);
        finish!(0);
      },
      (err: unknown) => {
        clearTimeout(failsafe);
        logger.error({ err }, 'error during shutdown');
        finish!(1);
      },
    );
  };
  const stop = (signal: string): void => {
    if (stopping !== undefined) {
      logger.warn({ signal }, 'second signal: exiting now');
      cleanup();
      flushSync();
      process.exit(EXIT_FORCED);
    }
    stopping = signal;
    logger.info({ signal, shutdownTimeout: config.shutdownTimeout }, 'shutting down');
    if (broker !== undefined) close(broker);
  };
  const onSigint = (): void => stop('SIGINT');
  const onSigterm = (): void => stop('SIGTERM');
  const onSighup = (): void => {
    if (dest !== undefined) dest.reopen(); // after logrotate moved the file
    logger.info({ signal: 'SIGHUP' }, 'reloading');
    void reloadUsers();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('SIGHUP', onSighup);

  try {
    broker = await startBroker({ ...options, logger });
  } catch (err) {
    // A store that cannot be opened, a port taken since it was checked: say why, do not start.
    cleanup();
    const e = err as NodeJS.ErrnoException;
    logger.fatal({ err }, `cannot start: ${e.message}`);
    complain(`cannot start: ${e.message}`);
    await flush();
    return 1;
  }

  const a = broker.address();
  logger.info(
    {
      version: VERSION,
      ...a,
      config: loaded.file,
      store: storeSummary(config),
      limits: config.limits,
      schedulers: config.schedulers,
      auth: {
        usersFile,
        users: users?.size,
        anonymous: usersFile === undefined ? true : config.auth.anonymous,
        aclRules: config.acl.length,
      },
      logging: config.logging,
      shutdownTimeout: config.shutdownTimeout,
      pidfile,
    },
    'coilmq started',
  );
  if (pretty && config.logging.level !== 'silent') {
    process.stdout.write(
      banner({
        version: VERSION,
        address: a,
        wsPath: config.listeners.wsPath,
        database:
          config.store.kind === 'sqlite'
            ? path.resolve(config.store.dataDir, 'coilmq.db')
            : undefined,
        usersFile,
      }) + '\n',
    );
  }
  for (const note of loaded.notes) logger.warn({}, note);
  logger.debug({ config }, 'configuration');
  if (usersFile === undefined && !LOOPBACK.test(a.host)) {
    logger.warn(
      { host: a.host },
      'no users file: every login is accepted on a non-loopback address (see --users)',
    );
  }
  if (stopping !== undefined) close(broker);

  const code = await done;
  cleanup();
  logger.info({ code }, 'exiting');
  await flush();
  return code;
}
