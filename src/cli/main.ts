/**
 * The `coilmq` command: `coilmq [options]` runs the broker, `coilmq passwd FILE USER` sets a
 * passcode in a users file. Settings come from a YAML file (`-c`), `COILMQ_...` environment
 * variables and flags, flags winning (see src/config/).
 */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { FIELDS, type Field } from '../config/schema.js';
import { passwd } from './passwd.js';
import { EXIT_CONFIG, serve } from './serve.js';

const GROUPS: Array<[prefix: string, heading: string]> = [
  ['listeners.', 'Listeners:'],
  ['store.', 'Store:'],
  ['limits.', 'Limits, flow control and heart-beats:'],
  ['schedulers.', 'Delivery:'],
  ['nackRequeue', 'Delivery:'],
  ['auth.', 'Authentication:'],
  ['', 'Logging and process:'],
];

function heading(f: Field): string {
  return GROUPS.find(([p]) => f.path.startsWith(p))![1];
}

/** The flag's default as `--help` shows it (commander prints it; only given flags are used). */
function helpDefault(f: Field): unknown {
  const d = f.default;
  return d === undefined || typeof d === 'object' ? undefined : d;
}

interface Flagged {
  field: Field;
  /** commander's attribute name. */
  attr: string;
  /** As written in messages. */
  label: string;
}

function buildProgram(onServe: (p: Command, flagged: Flagged[]) => Promise<void>): {
  program: Command;
  result: { code: number | undefined };
} {
  const result: { code: number | undefined } = { code: undefined };
  const program = new Command()
    .name('coilmq')
    .description(
      'A STOMP 1.0/1.1/1.2 message broker.\n\n' +
        'Settings come from the YAML file given by -c (or COILMQ_CONFIG), then the ' +
        'environment (each flag --foo-bar is also COILMQ_FOO_BAR), then the flags: ' +
        'flags win. See coilmq.example.yaml.',
    )
    .version(VERSION, '--version')
    .exitOverride()
    .configureHelp({ sortOptions: false })
    .option('-c, --config <file>', 'YAML configuration file');

  const flagged: Flagged[] = [];
  let group = '';
  for (const f of FIELDS) {
    if (f.flag === undefined) continue;
    const h = heading(f);
    if (h !== group) {
      program.optionsGroup(h);
      group = h;
    }
    const long = `--${f.flag}`;
    if (f.kind === 'bool') {
      const on = new Option(long, f.help);
      const off = new Option(`--no-${f.flag}`, `turn ${long} off`);
      program.addOption(on).addOption(off);
      flagged.push({ field: f, attr: on.attributeName(), label: long });
    } else {
      const opt = new Option(
        `${f.short !== undefined ? `${f.short}, ` : ''}${long} ${f.arg}`,
        f.help,
      );
      const d = helpDefault(f);
      if (d !== undefined) opt.default(d);
      program.addOption(opt);
      flagged.push({ field: f, attr: opt.attributeName(), label: long });
    }
  }
  program
    .optionsGroup('Logging and process:')
    .option('--debug', 'log at debug level (as --log-level debug)')
    // CoilMQ's daemon options: a service manager runs coilmq instead (see the README).
    .addOption(new Option('-d, --daemon').hideHelp())
    .optionsGroup('Options:');
  program.action(async () => onServe(program, flagged));

  program
    .command('passwd')
    .description(
      "set USER's passcode in the users FILE (created if missing): asks twice on a " +
        'terminal, else reads the first line of standard input',
    )
    .argument('<file>', 'users file')
    .argument('<user>', 'login (case-sensitive)')
    .option('--groups <list>', "comma-separated groups of the user (default: keep the user's)")
    .action(async (file: string, user: string, opts: { groups?: string }) => {
      result.code = await passwd(file, user, opts);
    });
  return { program, result };
}

/** Reads the flags given on the command line (never commander's defaults). */
function givenFlags(
  program: Command,
  flagged: Flagged[],
): Map<string, { value: unknown; flag: string }> {
  const opts = program.opts<Record<string, unknown>>();
  const flags = new Map<string, { value: unknown; flag: string }>();
  for (const { field, attr, label } of flagged) {
    if (program.getOptionValueSource(attr) !== 'cli') continue;
    const value = opts[attr];
    const flag = field.kind === 'bool' && value === false ? `--no-${field.flag!}` : label;
    flags.set(field.path, { value, flag });
  }
  if (opts.debug === true && !flags.has('logging.level')) {
    flags.set('logging.level', { value: 'debug', flag: '--debug' });
  }
  return flags;
}

/**
 * The `coilmq` command. Returns the exit code: 0 after a clean stop (SIGINT/SIGTERM) or a
 * successful subcommand, 1 when the broker cannot start, 2 on a bad command line or
 * configuration. A second SIGINT/SIGTERM during the stop exits at once with 130.
 */
export async function main(argv: string[]): Promise<number | undefined> {
  const { program, result } = buildProgram(async (p, flagged) => {
    const opts = p.opts<{ config?: string; daemon?: boolean }>();
    if (opts.daemon === true) {
      process.stderr.write(
        'coilmq: -d/--daemon is not supported: run coilmq under a service manager ' +
          '(the README has a systemd unit)\n',
      );
      result.code = EXIT_CONFIG;
      return;
    }
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig({
        configFlag: opts.config,
        env: process.env,
        flags: givenFlags(p, flagged),
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const problem of err.problems) process.stderr.write(`coilmq: ${problem}\n`);
      result.code = EXIT_CONFIG;
      return;
    }
    result.code = await serve(loaded);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    if (code === undefined) throw err;
    return code === 0 ? 0 : EXIT_CONFIG;
  }
  return result.code;
}
