/** coilmq's public API. Everything else is internal and may change. */
export {
  startBroker,
  Broker,
  VERSION,
  type BrokerAddress,
  type BrokerStats,
} from './broker/broker.js';
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
export { ErrorCodes, StompError, type ErrorCode } from './errors.js';
export { DEFAULT_LIMITS, DEFAULT_FLOW, DEFAULT_HEARTBEAT } from './limits.js';
export {
  Frame,
  FrameParser,
  encodeFrame,
  SharedMessage,
  type StompVersion,
} from './protocol/index.js';
export type { Store, StoredMessage, StoreContents } from './store/store.js';
export { MemoryStore } from './store/memory.js';
export { SqliteStore } from './store/sqlite.js';
