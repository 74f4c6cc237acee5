import type { Store } from '../store/store.js';
import type { StompVersion } from '../protocol/version.js';
import {
  conflicts,
  DEFAULT_OPTIONS,
  SETTING_NAMES,
  SETTINGS,
  type DefaultedName,
  type SettingValues,
} from '../settings.js';

/** TLS settings shared by the TLS (TCP) and WSS listeners. PEM text or Buffers. */
export interface TlsOptions {
  /** The server's certificate chain. */
  cert: string | Buffer;
  /** The server's private key. */
  key: string | Buffer;
  /** CA certificates that client certificates must chain to (default: Node's root CAs). */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Require a client certificate signed by `ca`: a client without one fails the handshake,
   * and the certificate's subject CN is the session's login.
   */
  requestCert?: boolean;
}

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

export type SubscriberSchedulerName = SettingValues['subscriberScheduler'];
export type QueueSchedulerName = SettingValues['queueScheduler'];

/**
 * Every option is optional. The settings of src/settings.ts (ports, limits, schedulers...)
 * are documented there, with their defaults; these are the objects and hooks.
 */
export interface BrokerOptions extends Partial<SettingValues> {
  /**
   * Where queues are kept durably (see src/store/). Without one, everything is in memory.
   * The broker opens it in listen() and closes it in close().
   */
  store?: Store;
  /**
   * TLS certificate and key (PEM), for the TLS listener (`tlsPort`) and wss (`wssPort`).
   * TLS 1.2 or newer. With `requestCert`, clients must present a certificate signed by
   * `ca`, and its subject CN is their login.
   */
  tls?: TlsOptions;
  authenticate?: AuthenticateHook;
  authorize?: AuthorizeHook;
  logger?: Logger;
}

/** The options after resolveOptions: a setting with a default always has a value. */
export type ResolvedOptions = Omit<BrokerOptions, DefaultedName | 'logger'> &
  Pick<SettingValues, DefaultedName> & { logger: Logger };

const NOOP = (): void => {};
export const SILENT_LOGGER: Logger = { debug: NOOP, info: NOOP, warn: NOOP, error: NOOP };

/** Fills in defaults and checks every option. Throws a TypeError naming the option. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  const o: ResolvedOptions = { ...DEFAULT_OPTIONS, logger: SILENT_LOGGER };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (o as Record<string, unknown>)[key] = value;
  }
  const values = o as Partial<Record<string, unknown>>;
  for (const name of SETTING_NAMES) {
    const v = values[name];
    if (v === undefined && !(name in DEFAULT_OPTIONS)) continue; // off
    const expected = SETTINGS[name].rule.problem(v);
    if (expected !== undefined) {
      const got = typeof v === 'string' ? JSON.stringify(v) : String(v);
      throw new TypeError(`option ${name} must be ${expected}, got ${got}`);
    }
  }
  for (const c of conflicts(o, (name) => options[name] !== undefined)) {
    const message = c.message.replace(/\{(\w+)\}/g, (_, other: string) => `option ${other}`);
    throw new TypeError(`option ${c.setting} ${message}`);
  }
  checkTls(o, options);
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

const isPem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);

/** The certificates, and the listeners that need them. */
function checkTls(o: ResolvedOptions, given: BrokerOptions): void {
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
