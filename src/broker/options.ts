import { DEFAULT_FLOW, DEFAULT_HEARTBEAT, DEFAULT_LIMITS } from '../limits.js';
import type { StompVersion } from '../protocol/version.js';

/** What hooks see of a connection. */
export interface ConnectionInfo {
  /** The session id sent in CONNECTED. */
  readonly id: string;
  readonly remoteAddress: string;
  /** 'tcp' for now; 'tls', 'ws' and 'wss' share the same session code. */
  readonly transport: string;
  /** The login the client authenticated with, once connected. */
  readonly login: string | undefined;
  /** The negotiated version, once connected. */
  readonly version: StompVersion | undefined;
}

export type Action = 'read' | 'write';

/** Accepts or refuses a login. May be async. */
export type AuthenticateHook = (
  login: string | undefined,
  passcode: string | undefined,
  connection: ConnectionInfo,
) => boolean | Promise<boolean>;

/** Allows or denies `read` (SUBSCRIBE) or `write` (SEND) on a destination. May be async. */
export type AuthorizeHook = (
  connection: ConnectionInfo,
  action: Action,
  destination: string,
) => boolean | Promise<boolean>;

/** The part of a pino-style logger the library uses. Nothing is logged unless one is given. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type SubscriberSchedulerName = 'favor-reliable' | 'random' | 'round-robin';
export type QueueSchedulerName = 'random' | 'round-robin';

export interface BrokerOptions {
  /** Address to listen on. Default 127.0.0.1, as CoilMQ. */
  host?: string;
  /** TCP port; 0 picks a free one (see Broker.address()). Default 61613. */
  port?: number;
  authenticate?: AuthenticateHook;
  authorize?: AuthorizeHook;
  logger?: Logger;
  subscriberScheduler?: SubscriberSchedulerName;
  queueScheduler?: QueueSchedulerName;
  /** Decode escapes in CONNECT headers (off, as the spec says: E-05). */
  decodeConnectEscapes?: boolean;
  /** NACK puts the message back on its queue (true, A-04) or drops it (false). */
  nackRequeue?: boolean;
  /** Milliseconds to wait for a client to close after an ERROR or DISCONNECT (ER-04). */
  closeLinger?: number;

  maxCommandLength?: number;
  maxHeaderLineLength?: number;
  maxHeaders?: number;
  maxFrameSize?: number;
  maxConnections?: number;
  maxSubscriptionsPerConnection?: number;
  maxUnackedPerSubscription?: number;
  loginTimeout?: number;

  defaultPrefetch?: number;
  highWaterMark?: number;
  slowConsumerMaxBytes?: number;
  slowConsumerTimeout?: number;
  maxQueueMessagesInMemory?: number;
  maxQueueBytesInMemory?: number;

  heartbeatMinInterval?: number;
  heartbeatMaxInterval?: number;
  heartbeatGrace?: number;
}

export type ResolvedOptions = Required<
  Omit<BrokerOptions, 'authenticate' | 'authorize' | 'logger'>
> &
  Pick<BrokerOptions, 'authenticate' | 'authorize'> & { logger: Logger };

const NOOP = (): void => {};
export const SILENT_LOGGER: Logger = { debug: NOOP, info: NOOP, warn: NOOP, error: NOOP };

const SUBSCRIBER_SCHEDULERS: readonly string[] = ['favor-reliable', 'random', 'round-robin'];
const QUEUE_SCHEDULERS: readonly string[] = ['random', 'round-robin'];

const NUMERIC = [
  'port',
  'closeLinger',
  ...Object.keys(DEFAULT_LIMITS),
  ...Object.keys(DEFAULT_FLOW),
  ...Object.keys(DEFAULT_HEARTBEAT),
] as const;

/** Fills in defaults and checks every option in one place. Throws TypeError naming the option. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  const o: ResolvedOptions = {
    host: '127.0.0.1',
    port: 61613,
    subscriberScheduler: 'favor-reliable',
    queueScheduler: 'random',
    decodeConnectEscapes: false,
    nackRequeue: true,
    closeLinger: 1000,
    ...DEFAULT_LIMITS,
    ...DEFAULT_FLOW,
    ...DEFAULT_HEARTBEAT,
    logger: SILENT_LOGGER,
  };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (o as Record<string, unknown>)[key] = value;
  }
  for (const key of NUMERIC) {
    const v = (o as Record<string, unknown>)[key];
    if (typeof v !== 'number' || !(v >= 0) || (key !== 'heartbeatGrace' && !Number.isInteger(v))) {
      throw new TypeError(
        `option ${key} must be a non-negative ${key === 'heartbeatGrace' ? 'number' : 'integer'}, got ${String(v)}`,
      );
    }
  }
  if (o.port > 65535) throw new TypeError(`option port must be at most 65535, got ${o.port}`);
  if (o.heartbeatGrace < 1)
    throw new TypeError(`option heartbeatGrace must be at least 1, got ${o.heartbeatGrace}`);
  if (!SUBSCRIBER_SCHEDULERS.includes(o.subscriberScheduler)) {
    throw new TypeError(
      `option subscriberScheduler must be one of ${SUBSCRIBER_SCHEDULERS.join(', ')}`,
    );
  }
  if (!QUEUE_SCHEDULERS.includes(o.queueScheduler)) {
    throw new TypeError(`option queueScheduler must be one of ${QUEUE_SCHEDULERS.join(', ')}`);
  }
  if (typeof o.host !== 'string') throw new TypeError('option host must be a string');
  for (const hook of ['authenticate', 'authorize'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function')
      throw new TypeError(`option ${hook} must be a function`);
  }
  return o;
}
