/**
 * Protocol versions coilmq speaks, lowest first, as `accept-version` lists them (STOMP 1.1+,
 * "Protocol Negotiation").
 */
export const SUPPORTED_VERSIONS = ['1.0', '1.1', '1.2'] as const;
export type StompVersion = (typeof SUPPORTED_VERSIONS)[number];

/**
 * Picks the highest version both sides speak from a CONNECT's `accept-version`. A missing
 * header means the client speaks 1.0 only. Returns undefined when there is none in common,
 * which the server must answer with an ERROR (STOMP 1.1+, "Protocol Negotiation").
 */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | undefined {
  if (acceptVersion === undefined) return '1.0';
  let best: StompVersion | undefined;
  for (const raw of acceptVersion.split(',')) {
    const v = raw.trim();
    for (const s of SUPPORTED_VERSIONS) {
      if (s === v && (best === undefined || s > best)) best = s;
    }
  }
  return best;
}

/**
 * Commands a client may send, per version (STOMP 1.0, "Client Commands"; STOMP 1.1+,
 * "Client Frames" and "CONNECT or STOMP Frame").
 */
export const CLIENT_COMMANDS: Record<StompVersion, ReadonlySet<string>> = {
  '1.0': new Set([
    'CONNECT',
    'SEND',
    'SUBSCRIBE',
    'UNSUBSCRIBE',
    'BEGIN',
    'COMMIT',
    'ABORT',
    'ACK',
    'DISCONNECT',
  ]),
  '1.1': new Set([
    'CONNECT',
    'STOMP',
    'SEND',
    'SUBSCRIBE',
    'UNSUBSCRIBE',
    'BEGIN',
    'COMMIT',
    'ABORT',
    'ACK',
    'NACK',
    'DISCONNECT',
  ]),
  '1.2': new Set([
    'CONNECT',
    'STOMP',
    'SEND',
    'SUBSCRIBE',
    'UNSUBSCRIBE',
    'BEGIN',
    'COMMIT',
    'ABORT',
    'ACK',
    'NACK',
    'DISCONNECT',
  ]),
};

/** Commands that may carry a body (STOMP 1.2, "Body"). */
export const BODY_COMMANDS: ReadonlySet<string> = new Set(['SEND', 'MESSAGE', 'ERROR']);

/**
 * Commands whose headers are never escaped, for compatibility with 1.0 (STOMP 1.1+, "Value
 * Encoding"). STOMP is CONNECT's other name (STOMP 1.2, "CONNECT or STOMP Frame").
 */
export function isUnescapedCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'STOMP' || command === 'CONNECTED';
}
