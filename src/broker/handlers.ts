/**
 * One handler per client command, dispatched from a table. A handler either finishes
 * synchronously (the common case: no promise is made per frame) or, when an
 * authentication or authorization hook is async, returns a promise; the session
 * then holds later frames until it settles. Handlers are the session's side: they call
 * the engine, never the other way round.
 */
import { StompError } from '../errors.js';
import { encodeFrame } from '../protocol/encoder.js';
import { Frame } from '../protocol/frame.js';
import {
  BODY_COMMANDS,
  CLIENT_COMMANDS,
  negotiateVersion,
  SUPPORTED_VERSIONS,
  type StompVersion,
} from '../protocol/version.js';
import { VERSION } from '../version.js';
import type { Action } from './options.js';
import type { Session } from './session.js';
import type { AckMode, Delivery } from './subscription.js';
import type { AckOp, TransactionOp } from './transactions.js';

type Handler = (s: Session, f: Frame) => void | Promise<void>;

export const SERVER_NAME = 'coilmq';

function required(f: Frame, name: string): string {
  const v = f.header(name);
  if (v === undefined) throw new StompError('MISSING_HEADER', `${f.command} requires ${name}`);
  return v;
}

/** Runs `then` once the authorize hook allows `action`; async only if the hook is. */
function authorized(
  s: Session,
  action: Action,
  destination: string,
  then: () => void,
): void | Promise<void> {
  const hook = s.engine.options.authorize;
  if (hook === undefined) return then();
  const deny = (): never => {
    throw new StompError('FORBIDDEN', `${action} access to ${destination} denied`);
  };
  const r = hook(s, action, destination);
  if (r === true) return then();
  if (r === false) return deny();
  // The client may be gone by the time the hook answers: then nothing more happens.
  return Promise.resolve(r).then((ok) => (s.closing ? undefined : ok ? then() : deny()));
}

const HEART_BEAT = /^([0-9]+),([0-9]+)$/;

function onConnect(s: Session, f: Frame): void | Promise<void> {
  const version = negotiateVersion(f.header('accept-version'));
  if (version === undefined) {
    // Say which versions we speak (STOMP 1.2, "Protocol Negotiation").
    s.fail(
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
  // A 1.0 CONNECT is read before its version is known; 1.0-era clients wrote
  // "login: name", so its values are trimmed here, as 1.0 frames are in the parser.
  const trim = (v: string | undefined): string | undefined => (version === '1.0' ? v?.trim() : v);
  const login = s.certificateLogin ?? trim(f.header('login'));
  const accept = (): void => {
    if (s.closing) return; // gone (or timed out) while an async hook was deciding
    const o = s.engine.options;
    const max = o.heartbeatMaxInterval > 0 ? o.heartbeatMaxInterval : Infinity;
    const clamp = (v: number): number => Math.min(Math.max(v, o.heartbeatMinInterval), max);
    // We answer with the intervals clamped to our limits; each direction is on only when
    // both sides want it (STOMP 1.2, "Heart-beating"). 1.0 has no heart-beats.
    const sx = version !== '1.0' && cy > 0 ? clamp(cy) : 0;
    const sy = version !== '1.0' && cx > 0 ? clamp(cx) : 0;
    // `version` and `heart-beat` in 1.0 too (there 0,0): the 1.0 spec has neither, but
    // clients written against RabbitMQ read them, and some that find `version` expect
    // `heart-beat` beside it (docs/rabbitmq.md).
    const headers = ['version', version, 'session', s.id, 'server', `${SERVER_NAME}/${VERSION}`];
    headers.push('heart-beat', `${sx},${sy}`);
    s.output.write(encodeFrame(new Frame('CONNECTED', headers), version));
    s.enterConnected(version, login, sx, sy > 0 ? Math.max(cx, sy) : 0);
  };
  const hook = s.engine.options.authenticate;
  if (hook === undefined) return accept();
  const fail = (): never => {
    throw new StompError('AUTH_FAILED', login === undefined ? 'no login given' : `login ${login}`);
  };
  const r = hook(login, trim(f.header('passcode')), s);
  if (r === true) return accept();
  if (r === false) return fail();
  s.enterAuthenticating();
  return Promise.resolve(r).then((ok) => (s.closing ? undefined : ok ? accept() : fail()));
}

function onSend(s: Session, f: Frame): void | Promise<void> {
  const destination = required(f, 'destination');
  const tx = f.header('transaction');
  const ops = tx === undefined ? undefined : s.transactions.ops(tx);
  // No hook (the common case): no closure on this per-message path.
  if (s.engine.options.authorize === undefined) return send(s, f, destination, ops);
  return authorized(s, 'write', destination, () => send(s, f, destination, ops));
}

function send(s: Session, f: Frame, destination: string, ops: TransactionOp[] | undefined): void {
  // A transactional SEND takes effect at COMMIT (STOMP 1.2, "COMMIT"). Its message is made
  // then, so that its place in the queue is where it is routed.
  if (ops !== undefined) ops.push({ kind: 'send', destination, frame: f });
  else route(s, destination, f);
}

/** Routes a SEND, then applies what it did to the session: receipts and flow control. */
function route(s: Session, destination: string, f: Frame): void {
  const { wroteToStore, storeBehind, fullQueue } = s.engine.send(destination, f, s.template);
  if (wroteToStore) s.receipts.noteStoreWrite();
  if (storeBehind) s.reading.waitForStore(s.engine.storage.store!);
  if (fullQueue !== undefined && !s.closing) s.reading.waitForQueue(fullQueue);
}

const ACK_MODES: ReadonlySet<string> = new Set(['auto', 'client', 'client-individual']);
const POSITIVE_INT = /^[1-9][0-9]*$/;

function onSubscribe(s: Session, f: Frame): void | Promise<void> {
  const destination = required(f, 'destination');
  let id = f.header('id');
  const explicitId = id !== undefined;
  if (id === undefined) {
    // id is required from 1.1; a 1.0 subscription is known by its destination.
    if (s.version !== '1.0') throw new StompError('MISSING_HEADER', 'SUBSCRIBE requires id');
    id = destination;
  }
  if (s.subscriptions.has(id)) throw new StompError('DUPLICATE_SUBSCRIPTION', id);
  const max = s.engine.options.maxSubscriptionsPerConnection;
  if (s.subscriptions.size >= max) throw new StompError('TOO_MANY_SUBSCRIPTIONS', `at most ${max}`);
  const ack = f.header('ack') ?? 'auto';
  if (!ACK_MODES.has(ack)) throw new StompError('INVALID_HEADER', `ack:${ack}`);
  const ackMode = ack as AckMode;
  const pf = f.header('prefetch-count') ?? f.header('activemq.prefetchSize');
  if (pf !== undefined && !POSITIVE_INT.test(pf)) {
    throw new StompError('INVALID_HEADER', `prefetch-count must be a positive integer, got ${pf}`);
  }
  const prefetch = pf === undefined ? undefined : Number(pf);
  const subId = id;
  return authorized(s, 'read', destination, () => {
    // The RECEIPT goes out before any queued message is delivered to the new subscription.
    const receipt = f.header('receipt');
    if (receipt !== undefined) s.receipts.receipt(receipt, f);
    s.engine.subscribe(s.subscriptions, subId, explicitId, destination, ackMode, prefetch);
  });
}

function onUnsubscribe(s: Session, f: Frame): void {
  const id = f.header('id');
  let sub = id === undefined ? undefined : s.subscriptions.get(id);
  if (id === undefined) {
    // 1.0 may unsubscribe by destination; 1.1 and 1.2 require id.
    if (s.version !== '1.0') throw new StompError('MISSING_HEADER', 'UNSUBSCRIBE requires id');
    sub = s.subscriptions.byDestination(required(f, 'destination'));
  }
  if (sub === undefined)
    throw new StompError('UNKNOWN_SUBSCRIPTION', id ?? f.header('destination'));
  s.engine.unsubscribe(s.subscriptions, sub);
}

function onAck(s: Session, f: Frame): void {
  const d = findDelivery(s, f);
  const tx = f.header('transaction');
  if (tx !== undefined) holdInTransaction(s, tx, { kind: 'ack', delivery: d });
  else settle(s, 'ack', d, false);
}

function onNack(s: Session, f: Frame): void {
  const d = findDelivery(s, f);
  const requeue = nackRequeues(s, f);
  const tx = f.header('transaction');
  if (tx !== undefined) holdInTransaction(s, tx, { kind: 'nack', delivery: d, requeue });
  else settle(s, 'nack', d, requeue);
}

/**
 * Carries out an ACK or NACK, now or at COMMIT (no object made for it: ACKs are per
 * message); its RECEIPT waits if that wrote to the store.
 */
function settle(s: Session, kind: 'ack' | 'nack', d: Delivery, requeue: boolean): void {
  const wrote =
    kind === 'ack' ? s.engine.ack(s.subscriptions, d) : s.engine.nack(s.subscriptions, d, requeue);
  if (wrote) s.receipts.noteStoreWrite();
}

/**
 * The delivery an ACK or NACK names. A 1.1 frame whose `subscription` does not hold its
 * `message-id` is still matched by the message id, as RabbitMQ does (docs/rabbitmq.md).
 */
function findDelivery(s: Session, f: Frame): Delivery {
  const d = s.subscriptions.find(f, s.version!);
  const named = f.header('subscription');
  if (named !== undefined && named !== d.subscription.id && s.version !== '1.2') {
    s.engine.options.logger.debug(
      { session: s.id, command: f.command, subscription: named, actual: d.subscription.id },
      'acknowledgement names another subscription: matched by message-id',
    );
  }
  return d;
}

/** NACK's `requeue` header (RabbitMQ's) decides, else the nackRequeue setting. */
function nackRequeues(s: Session, f: Frame): boolean {
  const requeue = f.header('requeue');
  if (requeue === undefined) return s.engine.options.nackRequeue;
  if (requeue === 'true') return true;
  if (requeue === 'false') return false;
  throw new StompError('INVALID_HEADER', `requeue must be true or false, got ${requeue}`);
}

function holdInTransaction(s: Session, tx: string, op: AckOp): void {
  s.transactions.ops(tx).push(op);
  s.engine.hold(op.delivery);
}

function onBegin(s: Session, f: Frame): void {
  s.transactions.begin(required(f, 'transaction'));
}

function onCommit(s: Session, f: Frame): void {
  // Everything in the transaction takes effect now, in the order it was sent.
  for (const op of s.transactions.end(required(f, 'transaction'))) {
    if (op.kind === 'send') route(s, op.destination, op.frame);
    else if (s.subscriptions.isPending(op.delivery)) {
      settle(s, op.kind, op.delivery, op.kind === 'nack' && op.requeue);
    }
  }
}

function onAbort(s: Session, f: Frame): void {
  // ACKs and NACKs are undone: their messages stay unacknowledged with their subscription
  // (README, "Behaviour worth knowing"). SENDs are dropped.
  for (const op of s.transactions.end(required(f, 'transaction'))) {
    if (op.kind !== 'send' && s.subscriptions.isPending(op.delivery)) {
      op.delivery.subscription.unhold(op.delivery);
    }
  }
}

function onDisconnect(s: Session, f: Frame): void {
  s.disconnect(f);
}

/**
 * The commands each version's sessions may send: the spec's, and NACK in 1.0 too (it is
 * 1.1's), as RabbitMQ allows (docs/rabbitmq.md).
 */
const ACCEPTED_COMMANDS: Record<StompVersion, ReadonlySet<string>> = {
  '1.0': new Set([...CLIENT_COMMANDS['1.0'], 'NACK']),
  '1.1': CLIENT_COMMANDS['1.1'],
  '1.2': CLIENT_COMMANDS['1.2'],
};

const HANDLERS: Record<string, Handler> = {
  SEND: onSend,
  SUBSCRIBE: onSubscribe,
  UNSUBSCRIBE: onUnsubscribe,
  ACK: onAck,
  NACK: onNack,
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

export function dispatchFrame(s: Session, f: Frame): void | Promise<void> {
  const command = f.command;
  if (command === 'CONNECT' || command === 'STOMP') {
    if (!s.connected) return onConnect(s, f);
    // One CONNECT per session (README, "Behaviour worth knowing").
    throw new StompError('ALREADY_CONNECTED');
  }
  // Nothing but CONNECT before CONNECTED: no frame may bypass authentication.
  if (!s.connected) throw new StompError('NOT_CONNECTED', command);
  const version = s.version!;
  // Commands this version does not have are errors; commands are case sensitive (STOMP
  // 1.2, "Client Frames").
  if (!ACCEPTED_COMMANDS[version].has(command)) throw new StompError('UNKNOWN_COMMAND', command);
  // Only SEND may carry a body from a client (STOMP 1.2, "Body"); 1.0 ignores the others'.
  if (f.body.length > 0 && !BODY_COMMANDS.has(command) && version !== '1.0') {
    throw new StompError('BODY_NOT_ALLOWED', command);
  }
  return HANDLERS[command]!(s, f);
}
