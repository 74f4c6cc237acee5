/**
 * One handler per client command, dispatched from a table. A handler either finishes
 * synchronously (the common case: no promise is made per frame) or, when an
 * authentication or authorization hook is async, returns a promise; the connection
 * then holds later frames until it settles.
 */
import { StompError } from '../errors.js';
import { encodeFrame } from '../protocol/encoder.js';
import { Frame } from '../protocol/frame.js';
import {
  BODY_COMMANDS,
  CLIENT_COMMANDS,
  negotiateVersion,
  SUPPORTED_VERSIONS,
} from '../protocol/version.js';
import type { Connection, TransactionOp } from './connection.js';
import type { Action } from './options.js';
import type { AckMode } from './subscription.js';

type Handler = (c: Connection, f: Frame) => void | Promise<void>;

export const SERVER_NAME = 'coilmq';

function required(f: Frame, name: string): string {
  const v = f.header(name);
  if (v === undefined) throw new StompError('MISSING_HEADER', `${f.command} requires ${name}`);
  return v;
}

/** Runs `then` once the authorize hook allows `action`; async only if the hook is. */
function authorized(
  c: Connection,
  action: Action,
  destination: string,
  then: () => void,
): void | Promise<void> {
  const hook = c.broker.options.authorize;
  if (hook === undefined) return then();
  const deny = (): never => {
    throw new StompError('FORBIDDEN', `${action} access to ${destination} denied`);
  };
  const r = hook(c, action, destination);
  if (r === true) return then();
  if (r === false) return deny();
  // The client may be gone by the time the hook answers: then nothing more happens.
  return Promise.resolve(r).then((ok) => (c.closing ? undefined : ok ? then() : deny()));
}

const HEART_BEAT = /^([0-9]+),([0-9]+)$/;

function onConnect(c: Connection, f: Frame): void | Promise<void> {
  const version = negotiateVersion(f.header('accept-version'));
  if (version === undefined) {
    // C-03: say which versions we speak.
    c.fail(
      new StompError('UNSUPPORTED_VERSION', `client accepts ${f.header('accept-version')}`),
      f,
      ['version', SUPPORTED_VERSIONS.join(',')],
    );
    return;
  }
  let cx = 0;
  let cy = 0;
  const hb = f.header('heart-beat');
  if (hb !== undefined && version !== '1.0') {
    const m = HEART_BEAT.exec(hb);
    if (m === null) throw new StompError('INVALID_HEADER', `heart-beat ${JSON.stringify(hb)}`);
    cx = Number(m[1]);
    cy = Number(m[2]);
  }
  // A login proved by the transport (a client certificate's CN) wins over the header.
  // F-10: a 1.0 CONNECT is read before its version is known; 1.0-era clients wrote
  // "login: name", so its values are trimmed here, as 1.0 frames are in the parser.
  const trim = (v: string | undefined): string | undefined => (version === '1.0' ? v?.trim() : v);
  const login = c.certificateLogin ?? trim(f.header('login'));
  const accept = (): void => {
    if (c.closing) return; // gone (or timed out) while an async hook was deciding
    const o = c.broker.options;
    const max = o.heartbeatMaxInterval > 0 ? o.heartbeatMaxInterval : Infinity;
    const clamp = (v: number): number => Math.min(Math.max(v, o.heartbeatMinInterval), max);
    // HB-02, HB-05: we answer with the intervals clamped to our limits; each direction
    // is on only when both sides want it. 1.0 has no heart-beats (HB-06).
    const sx = version !== '1.0' && cy > 0 ? clamp(cy) : 0;
    const sy = version !== '1.0' && cx > 0 ? clamp(cx) : 0;
    const headers: string[] = [];
    if (version !== '1.0') headers.push('version', version);
    headers.push('session', c.id, 'server', `${SERVER_NAME}/${c.broker.version}`);
    if (version !== '1.0') headers.push('heart-beat', `${sx},${sy}`);
    c.write(encodeFrame(new Frame('CONNECTED', headers), version));
    c.established(version, login, sx, sy > 0 ? Math.max(cx, sy) : 0);
  };
  const hook = c.broker.options.authenticate;
  if (hook === undefined) return accept();
  const fail = (): never => {
    throw new StompError('AUTH_FAILED', login === undefined ? 'no login given' : `login ${login}`);
  };
  const r = hook(login, trim(f.header('passcode')), c);
  if (r === true) return accept();
  if (r === false) return fail();
  c.markConnecting();
  return Promise.resolve(r).then((ok) => (c.closing ? undefined : ok ? accept() : fail()));
}

function onSend(c: Connection, f: Frame): void | Promise<void> {
  const destination = required(f, 'destination');
  const tx = f.header('transaction');
  const ops = tx === undefined ? undefined : c.transactions.get(tx);
  if (tx !== undefined && ops === undefined) throw new StompError('UNKNOWN_TRANSACTION', tx);
  // No hook (the common case): no closure on this per-message path.
  if (c.broker.options.authorize === undefined) return send(c, f, destination, ops);
  return authorized(c, 'write', destination, () => send(c, f, destination, ops));
}

function send(
  c: Connection,
  f: Frame,
  destination: string,
  ops: TransactionOp[] | undefined,
): void {
  // SD-02: a transactional SEND takes effect at COMMIT. Its message is made then, so that
  // its place in the queue (seq) is where it is routed.
  if (ops !== undefined) ops.push({ kind: 'send', destination, frame: f });
  else c.broker.route(c, c.broker.createMessage(destination, f, c));
}

const ACK_MODES: ReadonlySet<string> = new Set(['auto', 'client', 'client-individual']);
const POSITIVE_INT = /^[1-9][0-9]*$/;

function onSubscribe(c: Connection, f: Frame): void | Promise<void> {
  const destination = required(f, 'destination');
  let id = f.header('id');
  const explicitId = id !== undefined;
  if (id === undefined) {
    // SB-02: id is required from 1.1; a 1.0 subscription is known by its destination.
    if (c.version !== '1.0') throw new StompError('MISSING_HEADER', 'SUBSCRIBE requires id');
    id = destination;
  }
  if (c.subscriptions.has(id)) throw new StompError('DUPLICATE_SUBSCRIPTION', id);
  const o = c.broker.options;
  if (c.subscriptions.size >= o.maxSubscriptionsPerConnection) {
    throw new StompError('TOO_MANY_SUBSCRIPTIONS', `at most ${o.maxSubscriptionsPerConnection}`);
  }
  const ack = f.header('ack') ?? 'auto';
  if (!ACK_MODES.has(ack)) throw new StompError('INVALID_HEADER', `ack:${ack}`);
  const ackMode = ack as AckMode;
  const pf = f.header('prefetch-count') ?? f.header('activemq.prefetchSize');
  if (pf !== undefined && !POSITIVE_INT.test(pf)) {
    throw new StompError('INVALID_HEADER', `prefetch-count must be a positive integer, got ${pf}`);
  }
  let prefetch: number;
  if (ackMode === 'auto') prefetch = pf === undefined ? Infinity : Number(pf);
  else
    prefetch = Math.min(
      pf === undefined ? o.defaultPrefetch : Number(pf),
      o.maxUnackedPerSubscription,
    );
  const subId = id;
  return authorized(c, 'read', destination, () => {
    // The RECEIPT goes out before any queued message is delivered to the new subscription.
    const receipt = f.header('receipt');
    if (receipt !== undefined) c.receipt(receipt, f);
    c.broker.subscribe(c, subId, explicitId, destination, ackMode, prefetch);
  });
}

function onUnsubscribe(c: Connection, f: Frame): void {
  const id = f.header('id');
  let sub = id === undefined ? undefined : c.subscriptions.get(id);
  if (id === undefined) {
    // US-01: 1.0 may unsubscribe by destination; 1.1+ requires id.
    if (c.version !== '1.0') throw new StompError('MISSING_HEADER', 'UNSUBSCRIBE requires id');
    const destination = required(f, 'destination');
    for (const s of c.subscriptions.values()) {
      if (s.destination.name === destination) {
        sub = s;
        break;
      }
    }
  }
  if (sub === undefined)
    throw new StompError('UNKNOWN_SUBSCRIPTION', id ?? f.header('destination'));
  c.subscriptions.delete(sub.id);
  c.broker.unsubscribe(sub);
}

function ackOrNack(kind: 'ack' | 'nack'): Handler {
  return (c, f) => {
    const d = c.findDelivery(f);
    const tx = f.header('transaction');
    if (tx === undefined) {
      if (kind === 'ack') c.broker.ack(c, d);
      else c.broker.nack(c, d);
      return;
    }
    const ops = c.transactions.get(tx);
    if (ops === undefined) throw new StompError('UNKNOWN_TRANSACTION', tx);
    ops.push({ kind, delivery: d });
    // T-06: while the transaction is open the message no longer counts against the
    // prefetch, so the subscription keeps receiving.
    if (!d.inTransaction) {
      d.inTransaction = true;
      d.subscription.inFlight--;
      c.broker.refill(d.subscription);
    }
  };
}

function onBegin(c: Connection, f: Frame): void {
  const tx = required(f, 'transaction');
  if (c.transactions.has(tx)) throw new StompError('DUPLICATE_TRANSACTION', tx);
  c.transactions.set(tx, []);
}

function takeTransaction(c: Connection, f: Frame) {
  const tx = required(f, 'transaction');
  const ops = c.transactions.get(tx);
  if (ops === undefined) throw new StompError('UNKNOWN_TRANSACTION', tx);
  c.transactions.delete(tx);
  return ops;
}

function onCommit(c: Connection, f: Frame): void {
  // T-02: everything in the transaction takes effect now, in the order it was sent.
  for (const op of takeTransaction(c, f)) {
    if (op.kind === 'send') {
      c.broker.route(c, c.broker.createMessage(op.destination, op.frame, c));
    } else if (c.deliveries.get(op.delivery.ackId) === op.delivery) {
      if (op.kind === 'ack') c.broker.ack(c, op.delivery);
      else c.broker.nack(c, op.delivery);
    }
  }
}

function onAbort(c: Connection, f: Frame): void {
  // T-06: ACKs and NACKs are undone: their messages stay unacknowledged with their
  // subscription. SENDs are dropped.
  for (const op of takeTransaction(c, f)) {
    if (op.kind === 'send') continue;
    const d = op.delivery;
    if (d.inTransaction && c.deliveries.get(d.ackId) === d) {
      d.inTransaction = false;
      d.subscription.inFlight++;
    }
  }
}

function onDisconnect(c: Connection, f: Frame): void {
  c.disconnect(f.header('receipt'), f);
}

const HANDLERS: Record<string, Handler> = {
  SEND: onSend,
  SUBSCRIBE: onSubscribe,
  UNSUBSCRIBE: onUnsubscribe,
  ACK: ackOrNack('ack'),
  NACK: ackOrNack('nack'),
  BEGIN: onBegin,
  COMMIT: onCommit,
  ABORT: onAbort,
  DISCONNECT: onDisconnect,
};

/** Commands that send their own RECEIPT (or none) rather than after the handler returns. */
export const SELF_RECEIPTING: ReadonlySet<string> = new Set([
  'CONNECT',
  'STOMP',
  'SUBSCRIBE',
  'DISCONNECT',
]);

export function dispatchFrame(c: Connection, f: Frame): void | Promise<void> {
  const command = f.command;
  if (command === 'CONNECT' || command === 'STOMP') {
    if (!c.connected) return onConnect(c, f);
    throw new StompError('ALREADY_CONNECTED'); // C-09
  }
  // F-11: nothing but CONNECT before CONNECTED.
  if (!c.connected) throw new StompError('NOT_CONNECTED', command);
  const version = c.version!;
  // F-05, F-07: commands this version does not have are errors (F-04: case sensitive).
  if (!CLIENT_COMMANDS[version].has(command)) throw new StompError('UNKNOWN_COMMAND', command);
  // B-01: only SEND may carry a body from a client; 1.0 merely ignores the others' bodies.
  if (f.body.length > 0 && !BODY_COMMANDS.has(command) && version !== '1.0') {
    throw new StompError('BODY_NOT_ALLOWED', command);
  }
  return HANDLERS[command]!(c, f);
}
