/**
 * The one catalogue of errors coilmq reports. The code is stable: it appears in the
 * `code` header and the `message` of ERROR frames, in logs and in metric labels, so
 * clients and operators can match on it. Messages may be reworded; codes may not.
 */
export const ErrorCodes = {
  // Framing (the codec, src/protocol/). Every one of these is fatal to the connection.
  COMMAND_TOO_LONG: 'command line exceeds maxCommandLength',
  HEADER_TOO_LONG: 'header line exceeds maxHeaderLineLength',
  TOO_MANY_HEADERS: 'frame has more headers than maxHeaders',
  FRAME_TOO_LARGE: 'frame exceeds maxFrameSize',
  INVALID_ESCAPE: 'invalid escape sequence in header',
  INVALID_CONTENT_LENGTH: 'content-length is not a non-negative integer',
  MISSING_NUL: 'frame body is not followed by a NUL octet',
  MALFORMED_HEADER: 'header line has no colon or an empty name',
  MALFORMED_FRAME: 'malformed frame',
  INVALID_EOL: 'CR not followed by LF',
  UNKNOWN_COMMAND: 'unknown command',
  BODY_NOT_ALLOWED: 'this command must not have a body',

  // Session (src/broker/).
  NOT_CONNECTED: 'frame received before CONNECT',
  ALREADY_CONNECTED: 'CONNECT received on a connected session',
  UNSUPPORTED_VERSION: 'no protocol version in common',
  MISSING_HEADER: 'required header missing',
  INVALID_HEADER: 'header has an invalid value',
  AUTH_FAILED: 'authentication failed',
  FORBIDDEN: 'not authorized',
  LOGIN_TIMEOUT: 'no CONNECT within the login timeout',
  HEARTBEAT_TIMEOUT: 'no data from client within the heart-beat interval',
  DUPLICATE_SUBSCRIPTION: 'subscription id already in use on this connection',
  UNKNOWN_SUBSCRIPTION: 'no such subscription',
  UNKNOWN_MESSAGE: 'no such unacknowledged message',
  DUPLICATE_TRANSACTION: 'transaction already active',
  UNKNOWN_TRANSACTION: 'no such transaction',
  TOO_MANY_CONNECTIONS: 'connection limit reached',
  TOO_MANY_SUBSCRIPTIONS: 'subscription limit reached for this connection',
  SLOW_CONSUMER: 'slow consumer: too much unsent data',
  SERVER_SHUTDOWN: 'server is shutting down',
  STORE_FAILED: 'message store failed',
  INTERNAL_ERROR: 'internal error',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error with a stable code from {@link ErrorCodes}. `detail` says what exactly was wrong. */
export class StompError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string) {
    super(detail === undefined ? ErrorCodes[code] : `${ErrorCodes[code]}: ${detail}`);
    this.name = 'StompError';
    this.code = code;
    this.detail = detail;
  }
}
