/**
 * Every setting of the library, once: its name, default, allowed values and one-line help.
 * `resolveOptions` (src/broker/options.ts) checks `startBroker` options against this table,
 * and the `coilmq` command (src/config/schema.ts) makes each entry a key of its YAML file,
 * a flag (`maxFrameSize` is `--max-frame-size`) and an environment variable from it. The
 * types of the options derive from it too.
 *
 * Adding a setting is one entry in SETTINGS. The library then reads it from its resolved
 * options; the command line needs nothing more, unless it treats the setting differently
 * (its own default, another key): that goes in src/config/schema.ts.
 */

/** How a value given as text (an environment variable, a flag) is read. */
export type TextKind = 'int' | 'number' | 'bool' | 'string' | 'list';

/** What a setting's value may be. */
export interface Rule<T> {
  readonly text: TextKind;
  /** Placeholder of the value in `--help` (`<ms>`); none for a boolean. */
  readonly arg: string | undefined;
  /** The allowed values, when the rule is a choice among names. */
  readonly values?: readonly T[];
  /**
   * Undefined when `value` is allowed; else what is expected, worded to follow both
   * `option port must be ...` and `expected ...`.
   */
  problem(value: unknown): string | undefined;
  /** Type only: the values the rule allows. */
  readonly type?: T;
}

function rule<T>(
  text: TextKind,
  arg: string | undefined,
  problem: (value: unknown) => string | undefined,
  values?: readonly T[],
): Rule<T> {
  return values === undefined ? { text, arg, problem } : { text, arg, problem, values };
}

/** An integer from `min` (up to `max`). */
export function integer(
  min: number,
  { max, arg = '<n>', expected }: { max?: number; arg?: string; expected?: string } = {},
): Rule<number> {
  const e =
    expected ??
    (max !== undefined
      ? `an integer from ${min} to ${max}`
      : min === 0
        ? 'a non-negative integer'
        : min === 1
          ? 'a positive integer'
          : `an integer of at least ${min}`);
  const top = max ?? Number.MAX_SAFE_INTEGER;
  return rule('int', arg, (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= top ? undefined : e,
  );
}

/** A number from `min` to `max`; each bound is named only when it is the one crossed. */
export function number(min: number, max: number, arg = '<n>'): Rule<number> {
  return rule('number', arg, (v) =>
    typeof v !== 'number' || !(v >= min)
      ? `a number of at least ${min}`
      : v > max
        ? `a number of at most ${max}`
        : undefined,
  );
}

export const boolean: Rule<boolean> = rule('bool', undefined, (v) =>
  typeof v === 'boolean' ? undefined : 'true or false',
);

export function oneOf<const V extends readonly string[]>(
  values: V,
  arg = '<name>',
): Rule<V[number]> {
  const e = `one of ${values.join(', ')}`;
  return rule(
    'string',
    arg,
    (v) => (typeof v === 'string' && values.includes(v) ? undefined : e),
    values,
  );
}

export function nonEmptyString(expected = 'a non-empty string', arg = '<text>'): Rule<string> {
  return rule('string', arg, (v) => (typeof v === 'string' && v !== '' ? undefined : expected));
}

export const stringList: Rule<string[]> = rule('list', '<list>', (v) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '')
    ? undefined
    : 'a list of strings',
);

export const port = integer(0, { max: 65535, arg: '<port>', expected: 'a port number (0-65535)' });
/** 0 is allowed: it turns off the settings that are timeouts. */
const milliseconds = integer(0, { arg: '<ms>' });
/** Sizes and counts start at 1: 0 would refuse every frame or pause every producer. */
const bytes = integer(1, { arg: '<bytes>' });
const count = integer(1);
const portOrOff: Rule<number | false> = rule('int', '<port>', (v) =>
  v === false || port.problem(v) === undefined ? undefined : 'a port number (0-65535) or false',
);
const urlPath: Rule<string> = rule('string', '<path>', (v) =>
  typeof v === 'string' && v.startsWith('/') ? undefined : "a path starting with '/'",
);

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Where the configuration file of `coilmq` keeps a setting: the mapping it is under
 * (`limits.maxFrameSize`); a setting with none is at the top of the file.
 */
export type Section = 'listeners' | 'listeners.tls' | 'limits' | 'schedulers' | 'auth';

export interface SettingSpec {
  readonly section?: Section;
  /** Absent: the setting is off unless given. */
  readonly default?: unknown;
  readonly rule: Rule<unknown>;
  /** One line for `coilmq --help`. */
  readonly help: string;
}

/** The table. Its order is the order of `coilmq --help` within each section. */
export const SETTINGS = {
  // --- listeners
  /** Address to listen on. 127.0.0.1 by default, as CoilMQ. */
  host: {
    section: 'listeners',
    default: '127.0.0.1',
    rule: nonEmptyString('a non-empty string', '<addr>'),
    help: 'address to listen on',
  },
  /** TCP port; 0 picks a free one (see Broker.address()). */
  port: { section: 'listeners', default: 61613, rule: port, help: 'TCP port to listen on' },
  /** STOMP over WebSocket port; 0 picks a free one. Absent: no WebSocket listener. */
  wsPort: { section: 'listeners', rule: port, help: 'STOMP over WebSocket port' },
  /** Path of the WebSocket (and secure WebSocket) endpoints. */
  wsPath: { section: 'listeners', default: '/ws', rule: urlPath, help: 'WebSocket endpoint path' },
  /**
   * Origins allowed to open WebSockets (e.g. 'https://app.example'); absent allows all.
   * Requests without an Origin (clients that are not browsers) are always let in.
   */
  allowedOrigins: {
    section: 'listeners',
    rule: stringList,
    help: 'comma-separated Origins allowed to open WebSockets (default: all)',
  },
  /** STOMP over TLS port, when `tls` is given; 0 picks a free one, false turns it off. */
  tlsPort: {
    section: 'listeners.tls',
    default: 61614,
    rule: portOrOff,
    help: 'STOMP over TLS port, with tls',
  },
  /** STOMP over secure WebSocket (wss) port, with `tls`; 0 picks a free one. Absent: none. */
  wssPort: { section: 'listeners.tls', rule: port, help: 'STOMP over secure WebSocket port' },

  // --- limits (STOMP 1.2, "Size Limits"), flow control, heart-beats
  /** Longest command line in bytes: the longest command, UNSUBSCRIBE, has 11. */
  maxCommandLength: {
    section: 'limits',
    default: 32,
    rule: bytes,
    help: 'longest command line (bytes)',
  },
  /** Longest header line in bytes, before unescaping (Apollo allows 10 KiB). */
  maxHeaderLineLength: {
    section: 'limits',
    default: 10 * KiB,
    rule: bytes,
    help: 'longest header line (bytes)',
  },
  /** Most headers in one frame (Apollo allows 1000). */
  maxHeaders: { section: 'limits', default: 1000, rule: count, help: 'most headers in one frame' },
  /** Largest frame in bytes: header section plus body. */
  maxFrameSize: {
    section: 'limits',
    default: 16 * MiB,
    rule: bytes,
    help: 'largest frame, headers and body (bytes)',
  },
  /** Most concurrent client connections; 0 refuses every connection. */
  maxConnections: {
    section: 'limits',
    default: 10_000,
    rule: integer(0),
    help: 'most concurrent connections',
  },
  /** Most subscriptions one connection may hold. */
  maxSubscriptionsPerConnection: {
    section: 'limits',
    default: 1000,
    rule: count,
    help: 'most subscriptions per connection',
  },
  /** Most unacknowledged messages a client-ack subscription holds, whatever prefetch it asks. */
  maxUnackedPerSubscription: {
    section: 'limits',
    default: 1000,
    rule: count,
    help: 'most unacknowledged messages per subscription',
  },
  /** Milliseconds a new connection has to send CONNECT; 0: no limit. */
  loginTimeout: {
    section: 'limits',
    default: 10_000,
    rule: milliseconds,
    help: 'ms a new connection has to send CONNECT (0: no limit)',
  },
  /** Prefetch of client and client-individual subscriptions that name none. */
  defaultPrefetch: {
    section: 'limits',
    default: 100,
    rule: count,
    help: 'prefetch of client-ack subscriptions that name none',
  },
  /** Unsent bytes on a connection above which its queue subscriptions get no more messages. */
  highWaterMark: {
    section: 'limits',
    default: 1 * MiB,
    rule: bytes,
    help: 'unsent bytes above which queue deliveries to a connection pause',
  },
  /** Unsent bytes above which a topic subscriber is disconnected as a slow consumer. */
  slowConsumerMaxBytes: {
    section: 'limits',
    default: 16 * MiB,
    rule: bytes,
    help: 'unsent bytes above which a topic subscriber is disconnected',
  },
  /** Milliseconds a topic subscriber above highWaterMark has to drain; 0: no limit. */
  slowConsumerTimeout: {
    section: 'limits',
    default: 30_000,
    rule: milliseconds,
    help: 'ms a backed-up topic subscriber has to drain (0: no limit)',
  },
  /** Messages a queue holds in memory before producers sending to it are paused. */
  maxQueueMessagesInMemory: {
    section: 'limits',
    default: 10_000,
    rule: count,
    help: 'messages a queue holds in memory',
  },
  /** Bytes a queue holds in memory before producers sending to it are paused. */
  maxQueueBytesInMemory: {
    section: 'limits',
    default: 64 * MiB,
    rule: bytes,
    help: 'bytes a queue holds in memory',
  },
  /**
   * Message bytes waiting to be written to the store before producers are paused: the disk
   * can be slower than the network.
   */
  maxStorePendingBytes: {
    section: 'limits',
    default: 4 * MiB,
    rule: bytes,
    help: 'message bytes waiting for the disk before producers are paused',
  },
  /** Smallest heart-beat interval (ms) the server agrees to; smaller requests are raised. */
  heartbeatMinInterval: {
    section: 'limits',
    default: 1000,
    rule: milliseconds,
    help: 'smallest heart-beat interval (ms)',
  },
  /** Largest heart-beat interval (ms); larger requests are lowered. 0 lets the client choose. */
  heartbeatMaxInterval: {
    section: 'limits',
    default: 60_000,
    rule: milliseconds,
    help: 'largest heart-beat interval (ms; 0: no limit)',
  },
  /**
   * Silence tolerated from a client, as a multiple of the negotiated interval: timers are
   * not exact, and the receiver should allow a margin (STOMP 1.2, "Heart-beating").
   */
  heartbeatGrace: {
    section: 'limits',
    default: 1.5,
    rule: number(1, 1000, '<factor>'),
    help: 'silence tolerated, as a multiple of the heart-beat interval (>= 1)',
  },

  // --- delivery
  /** Which consumer of a queue gets the next message. */
  subscriberScheduler: {
    section: 'schedulers',
    default: 'favor-reliable',
    rule: oneOf(['favor-reliable', 'random', 'round-robin']),
    help: 'which consumer of a queue gets the next message',
  },
  /** Which of a consumer's queues is served first when it can take more. */
  queueScheduler: {
    section: 'schedulers',
    default: 'random',
    rule: oneOf(['random', 'round-robin']),
    help: "which of a consumer's queues is served first",
  },
  /**
   * Decode escapes in CONNECT headers, for clients that escape their passcode. Off, as the
   * specification says CONNECT is not escaped (STOMP 1.2, "Value Encoding").
   */
  decodeConnectEscapes: {
    section: 'auth',
    default: false,
    rule: boolean,
    help: 'decode escapes in CONNECT headers (for clients that escape passcodes)',
  },
  /**
   * Milliseconds a client has to close after an ERROR or DISCONNECT, so that it can read
   * the last frame before the socket is reset (STOMP 1.2, "Connection Lingering").
   */
  closeLinger: {
    default: 1000,
    rule: milliseconds,
    help: 'ms a client has to close after an ERROR or DISCONNECT',
  },
  /**
   * NACK puts the message back at the head of its queue (true) or drops it (false). The
   * specification leaves it to the server (STOMP 1.2, "NACK"); requeueing by default loses
   * no message (README, "Behaviour worth knowing": redelivery).
   */
  nackRequeue: {
    default: true,
    rule: boolean,
    help: 'NACK puts the message back on its queue, instead of dropping it',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

/** The value type of each setting, from its rule. */
export type SettingValues = {
  -readonly [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['rule'] extends Rule<infer T>
    ? T
    : never;
};

/** The settings that have a default (the others are off unless given). */
export type DefaultedName = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { readonly default: unknown } ? K : never;
}[SettingName];

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The default of every setting that has one. */
export const DEFAULT_OPTIONS: Readonly<Pick<SettingValues, DefaultedName>> = Object.fromEntries(
  SETTING_NAMES.flatMap((k) => {
    const s: SettingSpec = SETTINGS[k];
    return 'default' in s ? [[k, s.default]] : [];
  }),
) as Pick<SettingValues, DefaultedName>;

export type FrameLimits = Pick<
  SettingValues,
  'maxCommandLength' | 'maxHeaderLineLength' | 'maxHeaders' | 'maxFrameSize'
>;

/** A rule between settings broken: the setting to name, and why. */
export interface Conflict {
  readonly setting: SettingName;
  /** Names the other setting as `{name}`: each caller writes it its own way. */
  readonly message: string;
}

/**
 * Rules between settings, once each value is valid on its own. `values` holds the values in
 * force (given or default); `given` tells which were given, so that the one given is named.
 */
export function conflicts(
  values: { readonly [K in SettingName]?: unknown },
  given: (name: SettingName) => boolean,
): Conflict[] {
  const out: Conflict[] = [];
  const lo = values.heartbeatMinInterval;
  const hi = values.heartbeatMaxInterval;
  if (typeof lo === 'number' && typeof hi === 'number' && hi > 0 && lo > hi) {
    out.push(
      given('heartbeatMinInterval') || !given('heartbeatMaxInterval')
        ? {
            setting: 'heartbeatMinInterval',
            message: `must not exceed {heartbeatMaxInterval} (${lo} > ${hi})`,
          }
        : {
            setting: 'heartbeatMaxInterval',
            message: `must be 0 or at least {heartbeatMinInterval} (${hi} < ${lo})`,
          },
    );
  }
  return out;
}
