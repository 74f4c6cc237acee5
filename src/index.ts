/** coilmq's public API, as the README documents it. Everything else is internal and may change. */
export {
  startBroker,
  VERSION,
  type Broker,
  type BrokerAddress,
  type BrokerStats,
} from './server.js';
export type {
  BrokerOptions,
  ConnectionInfo,
  Action,
  AuthenticateHook,
  AuthorizeHook,
  Logger,
  SubscriberSchedulerName,
  QueueSchedulerName,
  TlsOptions,
} from './broker/options.js';
export type { ByteStream, StreamHandler } from './broker/stream.js';
export { ErrorCodes, StompError, type ErrorCode } from './errors.js';
export { DEFAULT_OPTIONS } from './settings.js';
export { Frame, FrameParser, encodeFrame, type StompVersion } from './protocol/index.js';
export type { Store, StoredMessage, StoreContents } from './store/store.js';
export { MemoryStore } from './store/memory.js';
export { SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './store/sqlite.js';
