/**
 * The whole configuration of the `coilmq` command, in one place: every setting's key in
 * the YAML file, its command-line flag, its environment variable, its type and its
 * default. The library's settings come from the table in src/settings.ts, each under the
 * section it names; this file adds the command's own settings (store, users, access rules,
 * logging, process) and, in CLI_CHANGES, the few ways the command departs from the library.
 * The file, the environment and the flags are merged (flags win over the environment,
 * which wins over the file) and validated by one zod schema (load.ts).
 *
 * Names: a setting's flag is the kebab-case of its name (`limits.maxFrameSize` is
 * `--max-frame-size`), except for the command's own settings that keep CoilMQ's or an
 * older spelling; its environment variable is `COILMQ_` and the flag's long name in upper
 * snake case (`--max-frame-size` is `COILMQ_MAX_FRAME_SIZE`, `--data-dir` is
 * `COILMQ_DATA_DIR`). The access rules (`acl`) are in the file only.
 */
import { z } from 'zod';
import { compilePattern } from '../auth/acl.js';
import type { BrokerOptions } from '../broker/options.js';
import {
  boolean,
  conflicts,
  integer,
  nonEmptyString,
  oneOf,
  port,
  SETTING_NAMES,
  SETTINGS,
  type DefaultedName,
  type Rule,
  type Section,
  type SettingName,
  type SettingSpec,
  type SettingValues,
  type TextKind,
} from '../settings.js';

/** How a value given as text (an environment variable, a flag) is read. */
export type Kind = TextKind;

export interface Field {
  /** Dotted key in the configuration: `listeners.port`. */
  readonly path: string;
  /** Long flag name, without `--`. Absent: file only. */
  readonly flag?: string;
  /** Short flag, with its dash: `-p`. */
  readonly short?: string;
  /** Placeholder of the flag's argument in `--help` (none for a boolean). */
  readonly arg?: string;
  readonly kind: Kind;
  /** One line for `--help`. */
  readonly help: string;
  readonly schema: z.ZodType;
  /** The value when the setting is not given. Absent: off. */
  readonly default?: unknown;
  /** The library option this setting is, if it is one. */
  readonly option?: SettingName;
  /** The option's value for a configured value, when they differ; undefined leaves it out. */
  readonly toOption?: (value: unknown) => unknown;
}

// --- value schemas: each fails with one message saying what is expected -------------------

/**
 * A rule of src/settings.ts as a schema, failing with what the rule expects. It does not
 * abort, so that the rules between settings still run and every problem is reported at once.
 */
function zodOf<T>(rule: Rule<T>): z.ZodType<T> {
  return z.custom<T>((v) => rule.problem(v) === undefined, {
    error: (issue) => rule.problem(issue.input),
    abort: false,
  });
}

const nonEmpty = nonEmptyString();
const text = zodOf(nonEmpty);
const file = nonEmptyString('a file name', '<file>');
const milliseconds = integer(0, { arg: '<ms>' });
const upToAMinute = integer(0, { max: 60_000, arg: '<ms>' });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const pattern: Rule<string> = {
  text: 'string',
  arg: undefined,
  problem(v) {
    const e = nonEmpty.problem(v);
    if (e !== undefined) return e;
    try {
      compilePattern(v as string);
      return undefined;
    } catch {
      return 'a destination pattern: a name, * within a path segment, ** for any run';
    }
  },
};

const accessRule = z.strictObject(
  {
    users: z.array(text, { error: 'a list of logins' }).optional(),
    groups: z.array(text, { error: 'a list of group names' }).optional(),
    destinations: z
      .array(zodOf(pattern), { error: 'a list of destination patterns' })
      .min(1, { error: 'at least one destination pattern' }),
    allow: z
      .array(zodOf(oneOf(['read', 'write'])), { error: 'a list of rights: read, write' })
      .min(1, { error: 'at least one right: read, write' }),
  },
  { error: 'a rule: { users, groups, destinations, allow }' },
);

export type AccessRuleConfig = z.infer<typeof accessRule>;

// --- the table -------------------------------------------------------------------------

/** `maxFrameSize` -> `max-frame-size`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `max-frame-size` -> `COILMQ_MAX_FRAME_SIZE`. */
export function envName(flag: string): string {
  return 'COILMQ_' + flag.toUpperCase().replace(/-/g, '_');
}

/** One of the command's own settings. */
function field(
  path: string,
  flag: string,
  rule: Rule<unknown>,
  help: string,
  more: Partial<Field> = {},
): Field {
  return { path, flag, arg: rule.arg, kind: rule.text, help, schema: zodOf(rule), ...more };
}

/** Where the command treats a library setting differently. Absent parts are the library's. */
interface CliChange {
  /** Its key within its section, when not its name. */
  readonly key?: string;
  readonly short?: string;
  readonly rule?: Rule<unknown>;
  readonly default?: unknown;
  readonly help?: string;
  readonly toOption?: (value: unknown) => unknown;
}

const offWhenZero = (v: unknown): unknown => (v === 0 ? undefined : v);

const CLI_CHANGES: { readonly [K in SettingName]?: CliChange } = {
  // CoilMQ's short flags.
  host: { short: '-b' },
  port: { short: '-p' },
  // The command serves STOMP over WebSocket unless told not to, on RabbitMQ Web-STOMP's
  // port; the library opens no listener it was not given. A flag cannot say "absent" or
  // false, so for the command's optional listeners 0 means off instead of "a free port".
  wsPort: {
    default: 15674,
    help: 'STOMP over WebSocket port (0 turns it off)',
    toOption: offWhenZero,
  },
  tlsPort: {
    key: 'port',
    rule: port,
    help: 'STOMP over TLS port, with --tls-cert (0 turns it off)',
    toOption: (v) => (v === 0 ? false : v),
  },
  wssPort: {
    help: 'STOMP over secure WebSocket port, with --tls-cert (default: off)',
    toOption: offWhenZero,
  },
};

/** The library settings of a section (undefined: the top level), in the table's order. */
function settingFields(section: Section | undefined): Field[] {
  return SETTING_NAMES.flatMap((name) => {
    const s: SettingSpec = SETTINGS[name];
    if (s.section !== section) return [];
    const cli = CLI_CHANGES[name] ?? {};
    const rule = cli.rule ?? s.rule;
    const key = cli.key ?? name;
    const f: Field = {
      path: section === undefined ? key : `${section}.${key}`,
      flag: kebab(name),
      arg: rule.arg,
      kind: rule.text,
      help:
        cli.help ?? (rule.values === undefined ? s.help : `${s.help}: ${rule.values.join(', ')}`),
      schema: zodOf(rule),
      option: name,
      ...('default' in cli
        ? { default: cli.default }
        : 'default' in s
          ? { default: s.default }
          : {}),
      ...(cli.short !== undefined ? { short: cli.short } : {}),
      ...(cli.toOption !== undefined ? { toOption: cli.toOption } : {}),
    };
    return [f];
  });
}

/** Every setting. The order is the order of `--help` and of the example file. */
export const FIELDS: readonly Field[] = [
  ...settingFields('listeners'),
  field(
    'listeners.tls.cert',
    'tls-cert',
    file,
    'TLS certificate chain (PEM); turns TLS on with --tls-key',
  ),
  field('listeners.tls.key', 'tls-key', file, 'TLS private key (PEM)'),
  field(
    'listeners.tls.ca',
    'tls-ca',
    file,
    'CA certificates (PEM) that client certificates must chain to',
  ),
  ...settingFields('listeners.tls'),
  field(
    'listeners.tls.requireClientCert',
    'tls-require-client-cert',
    boolean,
    'require a client certificate signed by --tls-ca; its subject CN is the login',
    { default: false },
  ),
  field(
    'store.kind',
    'store',
    oneOf(['sqlite', 'memory'], '<kind>'),
    'where queues are kept: sqlite (durable) or memory',
    { default: 'sqlite' },
  ),
  field(
    'store.dataDir',
    'data-dir',
    nonEmptyString('a directory', '<dir>'),
    'directory of the SQLite store',
    { default: './data' },
  ),
  field(
    'store.synchronous',
    'sync',
    oneOf(['full', 'normal'], '<mode>'),
    'full: a RECEIPT means on disk; normal: survives a crash of coilmq, not of the machine',
    {
      default: 'full',
      schema: z.preprocess(
        (v) => (typeof v === 'string' ? v.toLowerCase() : v),
        zodOf(oneOf(['full', 'normal'])),
      ),
    },
  ),
  field(
    'store.batchWindowMs',
    'batch-window-ms',
    upToAMinute,
    'how long a commit gathers writes (0: one event-loop turn)',
    { default: 0 },
  ),
  ...settingFields('limits'),
  ...settingFields('schedulers'),
  field(
    'auth.usersFile',
    'users',
    file,
    'users file (coilmq passwd); without one every login is accepted',
  ),
  field(
    'auth.anonymous',
    'anonymous',
    boolean,
    'with --users, also let clients in without a login',
    {
      default: false,
    },
  ),
  field(
    'auth.failureDelayMs',
    'auth-failure-delay-ms',
    upToAMinute,
    'ms before a refused login gets its ERROR',
    { default: 1000 },
  ),
  ...settingFields('auth'),
  {
    path: 'acl',
    kind: 'list',
    help: 'access rules (file only)',
    schema: z.array(accessRule, { error: 'a list of access rules' }),
    default: [],
  },
  field(
    'logging.level',
    'log-level',
    oneOf(LOG_LEVELS, '<level>'),
    `log level: ${LOG_LEVELS.join(', ')}`,
    { default: 'info' },
  ),
  field(
    'logging.file',
    'logfile',
    file,
    'write the log (JSON lines) to this file instead of standard output',
    { short: '-l' },
  ),
  field(
    'logging.format',
    'log-format',
    oneOf(LOG_FORMATS, '<format>'),
    'pretty (short lines for people), json (JSON lines), or auto: pretty on a terminal',
    { default: 'auto' },
  ),
  field(
    'shutdownTimeout',
    'shutdown-timeout',
    milliseconds,
    'ms a clean stop waits for clients before closing their connections',
    { default: 10_000 },
  ),
  ...settingFields(undefined),
  field('pidfile', 'pidfile', file, 'write the process id to this file, removed at exit'),
];

export const FIELD_BY_PATH: ReadonlyMap<string, Field> = new Map(FIELDS.map((f) => [f.path, f]));
export const FIELD_BY_ENV: ReadonlyMap<string, Field> = new Map(
  FIELDS.filter((f) => f.flag !== undefined).map((f) => [envName(f.flag!), f]),
);
/** The environment variable naming the configuration file, as `-c/--config` does. */
export const CONFIG_ENV = 'COILMQ_CONFIG';

// --- the resolved configuration ---------------------------------------------------------

type SectionOf<K extends SettingName> = (typeof SETTINGS)[K] extends {
  readonly section: infer S;
}
  ? S
  : undefined;
type NamesIn<S> = {
  [K in SettingName]: SectionOf<K> extends S ? K : never;
}[SettingName];
/** The library settings of a section, by name; one without a default may be absent. */
type SettingsIn<S extends Section | undefined> = Pick<SettingValues, NamesIn<S> & DefaultedName> &
  Partial<Pick<SettingValues, Exclude<NamesIn<S>, DefaultedName>>>;

export type Limits = SettingsIn<'limits'>;

export interface Config extends SettingsIn<undefined> {
  listeners: SettingsIn<'listeners'> & {
    /** 0: off. */
    wsPort: number;
    /** Absent: no TLS. */
    tls?: {
      cert: string;
      key: string;
      ca?: string;
      /** 0: off. */
      port: number;
      /** Absent or 0: off. */
      wssPort?: number;
      requireClientCert: boolean;
    };
  };
  store: {
    kind: 'sqlite' | 'memory';
    dataDir: string;
    synchronous: 'full' | 'normal';
    batchWindowMs: number;
  };
  limits: Limits;
  schedulers: SettingsIn<'schedulers'>;
  auth: SettingsIn<'auth'> & {
    usersFile?: string;
    anonymous: boolean;
    failureDelayMs: number;
  };
  acl: AccessRuleConfig[];
  logging: { level: LogLevel; file?: string; format: LogFormat };
  shutdownTimeout: number;
  pidfile?: string;
}

type Raw = Record<string, unknown>;

function get(raw: unknown, path: string): unknown {
  let v = raw;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Raw)[k];
  }
  return v;
}

/** Defaults of every setting that has one (the rest are off when absent), as a configuration. */
export const DEFAULTS: Readonly<Raw> = (() => {
  const root: Raw = {};
  for (const f of FIELDS) {
    if (f.default === undefined) continue;
    const keys = f.path.split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Raw;
    node[keys[keys.length - 1]!] = f.default;
  }
  return root;
})();

const FIELD_BY_OPTION: ReadonlyMap<SettingName, Field> = new Map(
  FIELDS.flatMap((f) => (f.option === undefined ? [] : [[f.option, f] as const])),
);

/**
 * The library options a configuration sets: every setting of src/settings.ts, in the
 * library's terms. The certificates, the store and the hooks are serve.ts's.
 */
export function settingOptions(config: Config): BrokerOptions {
  const o: Raw = {};
  for (const [name, f] of FIELD_BY_OPTION) {
    const v = get(config, f.path);
    const option = v === undefined || f.toOption === undefined ? v : f.toOption(v);
    if (option !== undefined) o[name] = option;
  }
  return o as BrokerOptions;
}

// --- the schema --------------------------------------------------------------------------

/** A section that is all comments in YAML (`tls:` with nothing under it) is null: absent. */
const nullIsAbsent = (v: unknown): unknown => (v === null ? undefined : v);

type Shape = { [k: string]: Shape | z.ZodType };

function buildShape(): Shape {
  const root: Shape = {};
  for (const f of FIELDS) {
    const keys = f.path.split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Shape;
    node[keys[keys.length - 1]!] = f.schema;
  }
  return root;
}

function toZod(shape: Shape, where: string): z.ZodType {
  const out: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(shape)) {
    out[k] = v instanceof z.ZodType ? v.optional() : toZod(v, where === '' ? k : `${where}.${k}`);
  }
  const obj = z.strictObject(out, { error: 'a mapping of settings' });
  return where === '' ? obj : z.preprocess(nullIsAbsent, obj.optional());
}

/** The keys a mapping may have, by the dotted key of the mapping ('' for the top level). */
export const KNOWN_KEYS: ReadonlyMap<string, string[]> = (() => {
  const m = new Map<string, string[]>();
  const walk = (shape: Shape, where: string): void => {
    m.set(where, Object.keys(shape));
    for (const [k, v] of Object.entries(shape)) {
      if (!(v instanceof z.ZodType)) walk(v, where === '' ? k : `${where}.${k}`);
    }
  };
  walk(buildShape(), '');
  m.set('acl.*', ['users', 'groups', 'destinations', 'allow']);
  return m;
})();

/**
 * Rules between settings. Messages name other keys as `{dotted.key}`; load.ts writes them
 * the way the offending setting was given (a flag, an environment variable, a file key).
 */
function crossChecks(raw: Raw, ctx: z.RefinementCtx): void {
  const given = (p: string): boolean => get(raw, p) !== undefined;
  const issue = (p: string, message: string): void =>
    ctx.addIssue({
      code: 'custom',
      path: p.split(/\./).map((k) => (/^\d+$/.test(k) ? Number(k) : k)),
      message,
      input: get(raw, p),
      params: { crossCheck: true },
    });
  const cert = 'listeners.tls.cert';
  const key = 'listeners.tls.key';
  if (given(cert) && !given(key)) issue(cert, `needs {${key}} too`);
  if (given(key) && !given(cert)) issue(key, `needs {${cert}} too`);
  if (!given(cert) && !given(key)) {
    for (const k of ['ca', 'port', 'wssPort', 'requireClientCert']) {
      const p = `listeners.tls.${k}`;
      if (given(p)) issue(p, `needs {${cert}} and {${key}}`);
    }
  } else if (get(raw, 'listeners.tls.requireClientCert') === true && !given('listeners.tls.ca')) {
    issue('listeners.tls.requireClientCert', 'needs {listeners.tls.ca}');
  }
  // The library's rules between its settings, on the values in force.
  const values: { [K in SettingName]?: unknown } = {};
  for (const [name, f] of FIELD_BY_OPTION) {
    const v = get(raw, f.path) ?? f.default;
    if (v === undefined || !f.schema.safeParse(v).success) continue; // reported on its own
    values[name] = f.toOption === undefined ? v : f.toOption(v);
  }
  const pathOf = (name: string): string => FIELD_BY_OPTION.get(name as SettingName)!.path;
  for (const c of conflicts(values, (name) => given(pathOf(name)))) {
    issue(
      pathOf(c.setting),
      c.message.replace(/\{(\w+)\}/g, (_, name: string) => `{${pathOf(name)}}`),
    );
  }
  const acl = get(raw, 'acl');
  if (Array.isArray(acl)) {
    acl.forEach((rule: unknown, i) => {
      if (rule === null || typeof rule !== 'object') return;
      const r = rule as Raw;
      const none = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.length === 0);
      if (none(r.users) && none(r.groups)) {
        issue(`acl.${i}`, 'a rule needs users or groups (users: ["*"] for everyone)');
      }
    });
  }
}

/** The schema of the configuration (every key optional; defaults are applied after). */
export const configSchema = (toZod(buildShape(), '') as z.ZodType<Raw>).superRefine(crossChecks, {
  // Run even when some values are invalid, so that every problem is reported at once.
  when: () => true,
});
