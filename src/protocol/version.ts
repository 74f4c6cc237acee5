/** Protocol versions coilmq speaks, lowest first (C-02: the list is increasing). */
export const SUPPORTED_VERSIONS = ['1.0', '1.1', '1.2'] as const;
export type StompVersion = (typeof SUPPORTED_VERSIONS)[number];

/**
 * Picks the highest version both sides speak from a CONNECT's `accept-version` (C-02).
 * A missing header means the client speaks 1.0 only. Returns undefined when there is none
 * in common (C-03).
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

/** Commands a client may send, per version (F-05). */
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

/** Commands that may carry a body (B-01). */
export const BODY_COMMANDS: ReadonlySet<string> = new Set(['SEND', 'MESSAGE', 'ERROR']);

/** Commands whose headers are never escaped, for compatibility with 1.0 (E-05). */
export function isUnescapedCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'STOMP' || command === 'CONNECTED';
}
