/**
 * The whole configuration of the `coilmq` command, in one place: every setting's key in
 * the YAML file, its command-line flag, its environment variable, its type and its
 * default. The file, the environment and the flags are merged (flags win over the
 * environment, which wins over the file) and validated by one zod schema (load.ts).
 *
 * Names: a setting's flag is the kebab-case of its key (`limits.maxFrameSize` is
 * `--max-frame-size`), except for the few that keep CoilMQ's or an older spelling (the
 * table says); its environment variable is `COILMQ_` and the flag's long name in upper
 * snake case (`--max-frame-size` is `COILMQ_MAX_FRAME_SIZE`, `--data-dir` is
 * `COILMQ_DATA_DIR`). The access rules (`acl`) are in the file only.
 */
import { z } from 'zod';
import { compilePattern } from '../auth/acl.js';
import { DEFAULT_FLOW, DEFAULT_HEARTBEAT, DEFAULT_LIMITS } from '../limits.js';

/** How a value given as text (an environment variable, a flag) is read. */
export type Kind = 'int' | 'number' | 'bool' | 'string' | 'list';

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
}

// --- value schemas: each fails with one message saying what is expected -------------------

const MAX_INT = Number.MAX_SAFE_INTEGER;

function integer(min: number, max = MAX_INT, expected?: string): z.ZodType<number> {
  const e =
    expected ??
    (min === 0
      ? 'a non-negative integer'
      : min === 1
        ? 'a positive integer'
        : `an integer of at least ${min}`);
  return z.number({ error: e }).int({ error: e }).min(min, { error: e }).max(max, { error: e });
}

const port = integer(0, 65535, 'a port number (0-65535)');
const bool = z.boolean({ error: 'true or false' });
const text = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
const file = z.string({ error: 'a file name' }).min(1, { error: 'a file name' });
const stringList = z.array(text, { error: 'a list of strings' });

function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
  caseInsensitive = false,
): z.ZodType<T[number]> {
  const e = `one of ${values.join(', ')}`;
  const en = z.enum(values, { error: e });
  if (!caseInsensitive) return en as unknown as z.ZodType<T[number]>;
  return z.preprocess(
    (v) => (typeof v === 'string' ? v.toLowerCase() : v),
    en,
  ) as unknown as z.ZodType<T[number]>;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const PATTERN = 'a destination pattern: a name, * within a path segment, ** for any run';
const pattern = text.refine(
  (p) => {
    try {
      compilePattern(p);
      return true;
    } catch {
      return false;
    }
  },
  { error: PATTERN },
);

const accessRule = z.strictObject(
  {
    users: z.array(text, { error: 'a list of logins' }).optional(),
    groups: z.array(text, { error: 'a list of group names' }).optional(),
    destinations: z
      .array(pattern, { error: 'a list of destination patterns' })
      .min(1, { error: 'at least one destination pattern' }),
    allow: z
      .array(oneOf(['read', 'write']), { error: 'a list of rights: read, write' })
      .min(1, { error: 'at least one right: read, write' }),
  },
  { error: 'a rule: { users, groups, destinations, allow }' },
);

export type AccessRuleConfig = z.infer<typeof accessRule>;

// --- the table -------------------------------------------------------------------------

/** Smallest value of each limit: 0 turns a timeout off; sizes and counts need at least 1. */
const LIMIT_MIN: Record<string, number> = {
  loginTimeout: 0,
  slowConsumerTimeout: 0,
  heartbeatMinInterval: 0,
  heartbeatMaxInterval: 0,
};

const LIMIT_HELP: Record<string, string> = {
  maxCommandLength: 'longest command line (bytes)',
  maxHeaderLineLength: 'longest header line (bytes)',
  maxHeaders: 'most headers in one frame',
  maxFrameSize: 'largest frame, headers and body (bytes)',
  maxConnections: 'most concurrent connections',
  maxSubscriptionsPerConnection: 'most subscriptions per connection',
  maxUnackedPerSubscription: 'most unacknowledged messages per subscription',
  loginTimeout: 'ms a new connection has to send CONNECT (0: no limit)',
  defaultPrefetch: 'prefetch of client-ack subscriptions that name none',
  highWaterMark: 'unsent bytes above which queue deliveries to a connection pause',
  slowConsumerMaxBytes: 'unsent bytes above which a topic subscriber is disconnected',
  slowConsumerTimeout: 'ms a backed-up topic subscriber has to drain (0: no limit)',
  maxQueueMessagesInMemory: 'messages a queue holds in memory',
  maxQueueBytesInMemory: 'bytes a queue holds in memory',
  maxStorePendingBytes: 'message bytes waiting for the disk before producers are paused',
  heartbeatMinInterval: 'smallest heart-beat interval (ms)',
  heartbeatMaxInterval: 'largest heart-beat interval (ms; 0: no limit)',
  heartbeatGrace: 'silence tolerated, as a multiple of the heart-beat interval (>= 1)',
};

export const LIMIT_KEYS = [
  ...Object.keys(DEFAULT_LIMITS),
  ...Object.keys(DEFAULT_FLOW),
  ...Object.keys(DEFAULT_HEARTBEAT),
] as Array<keyof Limits>;

export type Limits = {
  -readonly [
    K in keyof typeof DEFAULT_LIMITS | keyof typeof DEFAULT_FLOW | keyof typeof DEFAULT_HEARTBEAT
  ]: number;
};

/** `maxFrameSize` -> `max-frame-size`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `max-frame-size` -> `COILMQ_MAX_FRAME_SIZE`. */
export function envName(flag: string): string {
  return 'COILMQ_' + flag.toUpperCase().replace(/-/g, '_');
}

function limitField(key: string): Field {
  const grace = key === 'heartbeatGrace';
  const e = 'a number of at least 1';
  return {
    path: `limits.${key}`,
    flag: kebab(key),
    arg: grace
      ? '<factor>'
      : /Timeout|Interval/.test(key)
        ? '<ms>'
        : /Size|Bytes|Length|WaterMark/.test(key)
          ? '<bytes>'
          : '<n>',
    kind: grace ? 'number' : 'int',
    help: LIMIT_HELP[key] ?? key,
    schema: grace
      ? z.number({ error: e }).min(1, { error: e }).max(1000, { error: e })
      : integer(LIMIT_MIN[key] ?? 1),
  };
}

/** Every setting. The order is the order of `--help` and of the example file. */
export const FIELDS: readonly Field[] = [
  // listeners
  {
    path: 'listeners.host',
    flag: 'host',
    short: '-b',
    arg: '<addr>',
    kind: 'string',
    help: 'address to listen on',
    schema: text,
  },
  {
    path: 'listeners.port',
    flag: 'port',
    short: '-p',
    arg: '<port>',
    kind: 'int',
    help: 'TCP port to listen on',
    schema: port,
  },
  {
    path: 'listeners.wsPort',
    flag: 'ws-port',
    arg: '<port>',
    kind: 'int',
    help: 'STOMP over WebSocket port (0 turns it off)',
    schema: port,
  },
  {
    path: 'listeners.wsPath',
    flag: 'ws-path',
    arg: '<path>',
    kind: 'string',
    help: 'WebSocket endpoint path',
    schema: z
      .string({ error: "a path starting with '/'" })
      .startsWith('/', { error: "a path starting with '/'" }),
  },
  {
    path: 'listeners.allowedOrigins',
    flag: 'allowed-origins',
    arg: '<list>',
    kind: 'list',
    help: 'comma-separated Origins allowed to open WebSockets (default: all)',
    schema: stringList,
  },
  {
    path: 'listeners.tls.cert',
    flag: 'tls-cert',
    arg: '<file>',
    kind: 'string',
    help: 'TLS certificate chain (PEM); turns TLS on with --tls-key',
    schema: file,
  },
  {
    path: 'listeners.tls.key',
    flag: 'tls-key',
    arg: '<file>',
    kind: 'string',
    help: 'TLS private key (PEM)',
    schema: file,
  },
  {
    path: 'listeners.tls.ca',
    flag: 'tls-ca',
    arg: '<file>',
    kind: 'string',
    help: 'CA certificates (PEM) that client certificates must chain to',
    schema: file,
  },
  {
    path: 'listeners.tls.port',
    flag: 'tls-port',
    arg: '<port>',
    kind: 'int',
    help: 'STOMP over TLS port, with --tls-cert (0 turns it off)',
    schema: port,
  },
  {
    path: 'listeners.tls.wssPort',
    flag: 'wss-port',
    arg: '<port>',
    kind: 'int',
    help: 'STOMP over secure WebSocket port, with --tls-cert (default: off)',
    schema: port,
  },
  {
    path: 'listeners.tls.requireClientCert',
    flag: 'tls-require-client-cert',
    kind: 'bool',
    help: 'require a client certificate signed by --tls-ca; its subject CN is the login',
    schema: bool,
  },
  // store
  {
    path: 'store.kind',
    flag: 'store',
    arg: '<kind>',
    kind: 'string',
    help: 'where queues are kept: sqlite (durable) or memory',
    schema: oneOf(['sqlite', 'memory']),
  },
  {
    path: 'store.dataDir',
    flag: 'data-dir',
    arg: '<dir>',
    kind: 'string',
    help: 'directory of the SQLite store',
    schema: z.string({ error: 'a directory' }).min(1, { error: 'a directory' }),
  },
  {
    path: 'store.synchronous',
    flag: 'sync',
    arg: '<mode>',
    kind: 'string',
    help: 'full: a RECEIPT means on disk; normal: survives a crash of coilmq, not of the machine',
    schema: oneOf(['full', 'normal'], true),
  },
  {
    path: 'store.batchWindowMs',
    flag: 'batch-window-ms',
    arg: '<ms>',
    kind: 'int',
    help: 'how long a commit gathers writes (0: one event-loop turn)',
    schema: integer(0, 60_000, 'an integer from 0 to 60000'),
  },
  // limits, flow control, heart-beats: every key of src/limits.ts under its own name
  ...LIMIT_KEYS.map(limitField),
  // schedulers
  {
    path: 'schedulers.subscriberScheduler',
    flag: 'subscriber-scheduler',
    arg: '<name>',
    kind: 'string',
    help: 'which consumer of a queue gets the next message: favor-reliable, random, round-robin',
    schema: oneOf(['favor-reliable', 'random', 'round-robin']),
  },
  {
    path: 'schedulers.queueScheduler',
    flag: 'queue-scheduler',
    arg: '<name>',
    kind: 'string',
    help: "which of a consumer's queues is served first: random, round-robin",
    schema: oneOf(['random', 'round-robin']),
  },
  // authentication and authorization
  {
    path: 'auth.usersFile',
    flag: 'users',
    arg: '<file>',
    kind: 'string',
    help: 'users file (coilmq passwd); without one every login is accepted',
    schema: file,
  },
  {
    path: 'auth.anonymous',
    flag: 'anonymous',
    kind: 'bool',
    help: 'with --users, also let clients in without a login',
    schema: bool,
  },
  {
    path: 'auth.failureDelayMs',
    flag: 'auth-failure-delay-ms',
    arg: '<ms>',
    kind: 'int',
    help: 'ms before a refused login gets its ERROR',
    schema: integer(0, 60_000, 'an integer from 0 to 60000'),
  },
  {
    path: 'auth.decodeConnectEscapes',
    flag: 'decode-connect-escapes',
    kind: 'bool',
    help: 'decode escapes in CONNECT headers (for clients that escape passcodes)',
    schema: bool,
  },
  {
    path: 'acl',
    kind: 'list',
    help: 'access rules (file only)',
    schema: z.array(accessRule, { error: 'a list of access rules' }),
  },
  // logging
  {
    path: 'logging.level',
    flag: 'log-level',
    arg: '<level>',
    kind: 'string',
    help: `log level: ${LOG_LEVELS.join(', ')}`,
    schema: oneOf(LOG_LEVELS),
  },
  {
    path: 'logging.file',
    flag: 'logfile',
    short: '-l',
    arg: '<file>',
    kind: 'string',
    help: 'write the log (JSON lines) to this file instead of standard output',
    schema: file,
  },
  // process
  {
    path: 'shutdownTimeout',
    flag: 'shutdown-timeout',
    arg: '<ms>',
    kind: 'int',
    help: 'ms a clean stop waits for clients before closing their connections',
    schema: integer(0),
  },
  {
    path: 'closeLinger',
    flag: 'close-linger',
    arg: '<ms>',
    kind: 'int',
    help: 'ms a client has to close after an ERROR or DISCONNECT',
    schema: integer(0),
  },
  {
    path: 'nackRequeue',
    flag: 'nack-requeue',
    kind: 'bool',
    help: 'NACK puts the message back on its queue (--no-nack-requeue: drops it)',
    schema: bool,
  },
  {
    path: 'pidfile',
    flag: 'pidfile',
    arg: '<file>',
    kind: 'string',
    help: 'write the process id to this file, removed at exit',
    schema: file,
  },
];

export const FIELD_BY_PATH: ReadonlyMap<string, Field> = new Map(FIELDS.map((f) => [f.path, f]));
export const FIELD_BY_ENV: ReadonlyMap<string, Field> = new Map(
  FIELDS.filter((f) => f.flag !== undefined).map((f) => [envName(f.flag!), f]),
);
/** The environment variable naming the configuration file, as `-c/--config` does. */
export const CONFIG_ENV = 'COILMQ_CONFIG';

// --- the resolved configuration ---------------------------------------------------------

export interface Config {
  listeners: {
    host: string;
    port: number;
    /** 0: off. */
    wsPort: number;
    wsPath: string;
    /** Absent: every Origin. */
    allowedOrigins?: string[];
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
  schedulers: {
    subscriberScheduler: 'favor-reliable' | 'random' | 'round-robin';
    queueScheduler: 'random' | 'round-robin';
  };
  auth: {
    usersFile?: string;
    anonymous: boolean;
    failureDelayMs: number;
    decodeConnectEscapes: boolean;
  };
  acl: AccessRuleConfig[];
  logging: { level: LogLevel; file?: string };
  shutdownTimeout: number;
  closeLinger: number;
  nackRequeue: boolean;
  pidfile?: string;
}

/** Defaults of every setting that has one (the rest are off when absent). */
export const DEFAULTS = {
  listeners: {
    host: '127.0.0.1',
    port: 61613,
    wsPort: 15674,
    wsPath: '/ws',
    tls: { port: 61614, requireClientCert: false },
  },
  store: { kind: 'sqlite', dataDir: './data', synchronous: 'full', batchWindowMs: 0 },
  limits: { ...DEFAULT_LIMITS, ...DEFAULT_FLOW, ...DEFAULT_HEARTBEAT } as Limits,
  schedulers: { subscriberScheduler: 'favor-reliable', queueScheduler: 'random' },
  auth: { anonymous: false, failureDelayMs: 1000, decodeConnectEscapes: false },
  acl: [] as AccessRuleConfig[],
  logging: { level: 'info' },
  shutdownTimeout: 10_000,
  closeLinger: 1000,
  nackRequeue: true,
} as const;

/** The default of a dotted key, if it has one. */
export function defaultOf(path: string): unknown {
  let v: unknown = DEFAULTS;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
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

type Raw = Record<string, unknown>;

function get(raw: unknown, path: string): unknown {
  let v = raw;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Raw)[k];
  }
  return v;
}

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
  if (get(raw, 'store.kind') === 'memory') {
    for (const k of ['dataDir', 'synchronous', 'batchWindowMs']) {
      const p = `store.${k}`;
      if (given(p)) issue(p, 'applies only with {store.kind} sqlite');
    }
  }
  const min = get(raw, 'limits.heartbeatMinInterval');
  const max = get(raw, 'limits.heartbeatMaxInterval');
  const lo = typeof min === 'number' ? min : DEFAULT_HEARTBEAT.heartbeatMinInterval;
  const hi = typeof max === 'number' ? max : DEFAULT_HEARTBEAT.heartbeatMaxInterval;
  if (hi > 0 && lo > hi) {
    issue(
      given('limits.heartbeatMinInterval')
        ? 'limits.heartbeatMinInterval'
        : 'limits.heartbeatMaxInterval',
      `must not exceed {limits.heartbeatMaxInterval} (${lo} > ${hi})`,
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
