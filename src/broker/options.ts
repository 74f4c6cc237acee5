import type { Store } from '../store/store.js';
import { DEFAULT_FLOW, DEFAULT_HEARTBEAT, DEFAULT_LIMITS } from '../limits.js';
import type { StompVersion } from '../protocol/version.js';
import type { TlsOptions } from '../transport/tls.js';

export type { TlsOptions };

/** What hooks see of a connection. */
export interface ConnectionInfo {
  /** The session id sent in CONNECTED. */
  readonly id: string;
  readonly remoteAddress: string;
  /** 'tcp', 'tls', 'ws' or 'wss': every transport is the same session. */
  readonly transport: string;
  /** The login the client authenticated with, once connected. */
  readonly login: string | undefined;
  /** The negotiated version, once connected. */
  readonly version: StompVersion | undefined;
  /**
   * The subject CN of a verified client certificate (TLS or wss with client certificates
   * required). When set, it is also the login: the transport has already proved it.
   */
  readonly certificateLogin: string | undefined;
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
  /**
   * Where queues are kept durably (see src/store/). Without one, everything is in memory.
   * The broker opens it in listen() and closes it in close().
   */
  store?: Store;
  /** Address to listen on. Default 127.0.0.1, as CoilMQ. */
  host?: string;
  /** TCP port; 0 picks a free one (see Broker.address()). Default 61613. */
  port?: number;
  /**
   * TLS certificate and key (PEM), for the TLS listener (`tlsPort`) and wss (`wssPort`).
   * TLS 1.2 or newer. With `requestCert`, clients must present a certificate signed by
   * `ca`, and its subject CN is their login.
   */
  tls?: TlsOptions;
  /** STOMP over TLS port, when `tls` is given; 0 picks a free one, false turns it off. Default 61614. */
  tlsPort?: number | false;
  /** STOMP over WebSocket port; 0 picks a free one. Absent: no WebSocket listener. */
  wsPort?: number;
  /** STOMP over secure WebSocket (wss) port, with `tls`; 0 picks a free one. Absent: none. */
  wssPort?: number;
  /** Path of the WebSocket endpoints. Default '/ws'. */
  wsPath?: string;
  /** Origins allowed to open WebSockets (e.g. 'https://app.example'); absent allows all. */
  allowedOrigins?: string[];
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
  maxStorePendingBytes?: number;

  heartbeatMinInterval?: number;
  heartbeatMaxInterval?: number;
  heartbeatGrace?: number;
}

/** Options that stay undefined when not given. */
type OptionalOptions =
  'authenticate' | 'authorize' | 'tls' | 'wsPort' | 'wssPort' | 'allowedOrigins' | 'store';

export type ResolvedOptions = Required<Omit<BrokerOptions, OptionalOptions | 'logger'>> &
  Pick<BrokerOptions, OptionalOptions> & { logger: Logger };

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
    tlsPort: 61614,
    wsPath: '/ws',
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
  checkTransports(o, options);
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
  const st = o.store as Partial<Store> | undefined;
  if (st !== undefined && (typeof st.open !== 'function' || typeof st.sync !== 'function')) {
    throw new TypeError('option store must implement the Store interface');
  }
  return o;
}

function checkPort(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new TypeError(`option ${name} must be a port number (0-65535), got ${String(v)}`);
  }
}

const isPem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);

/** TLS and WebSocket options: ports, path, origins, certificates. */
function checkTransports(o: ResolvedOptions, given: BrokerOptions): void {
  if (o.tlsPort !== false) checkPort('tlsPort', o.tlsPort);
  if (o.wsPort !== undefined) checkPort('wsPort', o.wsPort);
  if (o.wssPort !== undefined) checkPort('wssPort', o.wssPort);
  if (typeof o.wsPath !== 'string' || !o.wsPath.startsWith('/')) {
    throw new TypeError(`option wsPath must be a path starting with '/', got ${String(o.wsPath)}`);
  }
  if (
    o.allowedOrigins !== undefined &&
    (!Array.isArray(o.allowedOrigins) || !o.allowedOrigins.every((x) => typeof x === 'string'))
  ) {
    throw new TypeError('option allowedOrigins must be an array of strings');
  }
  const tls = o.tls;
  if (tls === undefined) {
    if (given.tlsPort !== undefined && given.tlsPort !== false)
      throw new TypeError('option tlsPort needs option tls (certificate and key)');
    if (o.wssPort !== undefined)
      throw new TypeError('option wssPort needs option tls (certificate and key)');
    return;
  }
  if (typeof tls !== 'object' || tls === null) throw new TypeError('option tls must be an object');
  if (!isPem(tls.cert)) throw new TypeError('option tls.cert must be a PEM string or Buffer');
  if (!isPem(tls.key)) throw new TypeError('option tls.key must be a PEM string or Buffer');
  if (tls.ca !== undefined && !(isPem(tls.ca) || (Array.isArray(tls.ca) && tls.ca.every(isPem)))) {
    throw new TypeError('option tls.ca must be PEM strings or Buffers');
  }
  if (tls.requestCert !== undefined && typeof tls.requestCert !== 'boolean') {
    throw new TypeError('option tls.requestCert must be a boolean');
  }
}
