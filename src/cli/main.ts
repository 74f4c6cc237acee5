import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { startBroker, VERSION } from '../index.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('not a port number (0-65535)');
  return n;
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
    .option('--debug', 'log at debug level', false)
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const opts = program.opts<{ host: string; port: number; debug: boolean }>();
  const logger = pino({ name: 'coilmq', level: opts.debug ? 'debug' : 'info' });
  const broker = await startBroker({ host: opts.host, port: opts.port, logger });
  const a = broker.address();
  logger.info({ version: VERSION, host: a.host, port: a.port }, 'coilmq started');

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
