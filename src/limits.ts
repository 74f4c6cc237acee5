/**
 * Every limit and default, in one place. The names are the ones used by the library
 * options, the command line (kebab-cased: maxFrameSize -> --max-frame-size) and metrics.
 */
export const DEFAULT_LIMITS = {
  /** Longest command line in bytes (the longest STOMP command, UNSUBSCRIBE, has 11). */
  maxCommandLength: 32,
  /** Longest header line in bytes, before unescaping (Apollo uses 10 KiB). */
  maxHeaderLineLength: 10 * 1024,
  /** Most headers in one frame (Apollo uses 1000). */
  maxHeaders: 1000,
  /** Largest frame in bytes: header section plus body. */
  maxFrameSize: 16 * 1024 * 1024,
  /** Most concurrent client connections. */
  maxConnections: 10_000,
  /** Most subscriptions one connection may hold. */
  maxSubscriptionsPerConnection: 1000,
  /** Most unacknowledged messages one subscription may hold; also the default prefetch for client acks. */
  maxUnackedPerSubscription: 1000,
  /** Milliseconds a new connection has to send CONNECT. */
  loginTimeout: 10_000,
} as const;

export const DEFAULT_FLOW = {
  /** Prefetch for client and client-individual subscriptions that name none. */
  defaultPrefetch: 100,
  /** Unsent bytes on a connection above which its queue subscriptions get no more messages. */
  highWaterMark: 1024 * 1024,
  /** Unsent bytes above which a topic subscriber is disconnected as a slow consumer. */
  slowConsumerMaxBytes: 16 * 1024 * 1024,
  /** Milliseconds a topic subscriber above highWaterMark has to drain before it is disconnected. */
  slowConsumerTimeout: 30_000,
  /** Messages held in memory per queue before producers sending to it are paused. */
  maxQueueMessagesInMemory: 10_000,
  /** Bytes held in memory per queue before producers sending to it are paused. */
  maxQueueBytesInMemory: 64 * 1024 * 1024,
  /** Message bytes waiting to be written to the store before producers are paused (disk slower than the network). */
  maxStorePendingBytes: 4 * 1024 * 1024,
} as const;

export const DEFAULT_HEARTBEAT = {
  /** Smallest interval (ms) the server will send beats at; client requests below are raised. */
  heartbeatMinInterval: 1000,
  /** Largest interval (ms); client requests above are lowered. 0 lets the client choose. */
  heartbeatMaxInterval: 60_000,
  /** Silence tolerated from a client, as a multiple of the negotiated interval (HB-04). */
  heartbeatGrace: 1.5,
} as const;

export type FrameLimits = Record<
  'maxCommandLength' | 'maxHeaderLineLength' | 'maxHeaders' | 'maxFrameSize',
  number
>;
