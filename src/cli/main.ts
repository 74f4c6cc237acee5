import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { startBroker, VERSION, type BrokerOptions } from '../index.js';
import { SqliteStore } from '../store/sqlite.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('not a port number (0-65535)');
  return n;
}

function wsPath(value: string): string {
  if (!value.startsWith('/')) throw new InvalidArgumentError("must start with '/'");
  return value;
}

interface CliOptions {
  host: string;
  port: number;
  wsPort: number;
  wsPath: string;
  allowedOrigins?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsPort: number;
  wssPort?: number;
  tlsRequireClientCert: boolean;
  store: 'sqlite' | 'memory';
  dataDir: string;
  debug: boolean;
}

function storeKind(value: string): 'sqlite' | 'memory' {
  if (value !== 'sqlite' && value !== 'memory') throw new InvalidArgumentError('sqlite or memory');
  return value;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Command-line flags to library options. Throws on flags that do not go together. */
function brokerOptions(opts: CliOptions, given: (name: string) => boolean): BrokerOptions {
  const o: BrokerOptions = { host: opts.host, port: opts.port, wsPath: opts.wsPath };
  if (opts.store === 'sqlite') {
    // Durable by default: queues live in an SQLite database under the data directory.
    o.store = new SqliteStore({ path: path.resolve(opts.dataDir, 'coilmq.db') });
  } else if (given('dataDir')) {
    throw new Error('--data-dir needs --store sqlite');
  }
  if (opts.wsPort !== 0) o.wsPort = opts.wsPort;
  if (opts.allowedOrigins !== undefined) {
    o.allowedOrigins = opts.allowedOrigins
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  if (opts.tlsCert === undefined) {
    for (const [name, flag] of [
      ['tlsCa', '--tls-ca'],
      ['tlsPort', '--tls-port'],
      ['wssPort', '--wss-port'],
      ['tlsRequireClientCert', '--tls-require-client-cert'],
    ] as const) {
      if (given(name)) throw new Error(`${flag} needs --tls-cert and --tls-key`);
    }
    return o;
  }
  if (opts.tlsRequireClientCert && opts.tlsCa === undefined) {
    throw new Error('--tls-require-client-cert needs --tls-ca');
  }
  o.tls = {
    cert: readPem('--tls-cert', opts.tlsCert),
    key: readPem('--tls-key', opts.tlsKey!),
    requestCert: opts.tlsRequireClientCert,
  };
  if (opts.tlsCa !== undefined) o.tls.ca = readPem('--tls-ca', opts.tlsCa);
  o.tlsPort = opts.tlsPort === 0 ? false : opts.tlsPort;
  if (opts.wssPort !== undefined && opts.wssPort !== 0) o.wssPort = opts.wssPort;
  return o;
}

/**
 * The `coilmq` command. Returns the exit code; signals are handled here, never in the
 * library. SIGINT/SIGTERM close the broker cleanly (stop accepting, return unacknowledged
 * messages, close connections) and exit 0; a second signal exits at once.
 */
export async function main(argv: string[]): Promise<number | undefined> {
  const program = new Command()
    .name('coilmq')
    .description('A STOMP 1.0/1.1/1.2 message broker')
    .version(VERSION, '--version')
    .option('-b, --host <addr>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port to listen on', port, 61613)
    .option('--ws-port <port>', 'STOMP over WebSocket port (0 turns it off)', port, 15674)
    .option('--ws-path <path>', 'WebSocket endpoint path', wsPath, '/ws')
    .option(
      '--allowed-origins <list>',
      'comma-separated Origins allowed to open WebSockets (default: all)',
    )
    .option('--tls-cert <file>', 'TLS certificate chain (PEM); turns TLS on with --tls-key')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--tls-ca <file>', 'CA certificates (PEM) that client certificates must chain to')
    .option(
      '--tls-port <port>',
      'STOMP over TLS port, with --tls-cert (0 turns it off)',
      port,
      61614,
    )
    .option(
      '--wss-port <port>',
      'STOMP over secure WebSocket port, with --tls-cert (default: off)',
      port,
    )
    .option(
      '--tls-require-client-cert',
      'require a client certificate signed by --tls-ca; its subject CN is the login',
      false,
    )
    .option(
      '--store <kind>',
      'where queues are kept: sqlite (durable) or memory',
      storeKind,
      'sqlite',
    )
    .option('--data-dir <dir>', 'directory of the SQLite store', './data')
    .option('--debug', 'log at debug level', false)
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const opts = program.opts<CliOptions>();
  let options: BrokerOptions;
  try {
    options = brokerOptions(opts, (name) => program.getOptionValueSource(name) === 'cli');
  } catch (err) {
    process.stderr.write(`coilmq: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = pino({ name: 'coilmq', level: opts.debug ? 'debug' : 'info' });
  let broker;
  try {
    broker = await startBroker({ ...options, logger });
  } catch (err) {
    // A store that cannot be opened, a port in use: say why, and do not start.
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    process.stderr.write(`coilmq: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const a = broker.address();
  logger.info({ version: VERSION, ...a }, 'coilmq started');

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      broker.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
