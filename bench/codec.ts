/**
 * Frame codec throughput: parsing SEND frames as a client would send them, and encoding
 * MESSAGE frames as the broker delivers them, with 256 B, 4 KiB and 1 MiB bodies.
 *
 * Parse cases feed ~32 MB of concatenated frames either as one buffer ("whole") or in
 * 1,500-byte chunks (one Ethernet MTU, roughly what a socket read yields under load, and
 * enough to split header lines and bodies across chunks).
 *
 * Encode cases: encodeFrame on a SEND with the four common headers (what a client
 * writes); then the same MESSAGE bytes built two ways: encodeFrame on a complete frame
 * (the four plus subscription, message-id and ack), and SharedMessage.encodeWith adding
 * only those per-delivery header lines (made by encodeLines) to a cached common part, as
 * the broker's deliveries do. Message ids vary from frame to frame, as they would.
 *
 *   node --import tsx bench/codec.ts        # this benchmark alone
 *   npm run bench -- codec                  # through bench/run.ts
 */
import { Buffer } from 'node:buffer';
import {
  encodeFrame,
  encodeLines,
  Frame,
  FrameParser,
  SharedMessage,
  type StompVersion,
} from '../src/protocol/index.js';
import { isMain, runStandalone, type Benchmark, type BenchContext } from './harness.js';

const VERSION: StompVersion = '1.2';

const SIZES: ReadonlyArray<[label: string, bytes: number]> = [
  ['256B', 256],
  ['4KiB', 4 * 1024],
  ['1MiB', 1024 * 1024],
];

/** Each parse input is about this big, so a call takes tens of milliseconds. */
const PARSE_INPUT_BYTES = 32 * 1024 * 1024;
const CHUNK = 1500;
/** Encode calls do this many bytes' worth of frames (at least one frame). */
const ENCODE_BATCH_BYTES = 1024 * 1024;
/** Distinct per-delivery header sets cycled through, so message ids vary as they would. */
const DELIVERIES = 1024;

/** Printable JSON-ish text, so that nothing in it looks like framing. */
function makeBody(size: number): Buffer {
  const pattern = '{"id":12345,"sku":"AB-1234","qty":3,"price":"19.99","note":"lorem ipsum"},';
  return Buffer.from(pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size), 'latin1');
}

function traceId(i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  return `6f1c2a9e-4b7d-4e21-9c3a-${hex}`;
}

/** The four common headers: destination, content-type, content-length and a user header. */
function commonHeaders(i: number, bodyLength: number): string[] {
  return [
    'destination',
    '/queue/orders.eu-west-1',
    'content-type',
    'application/json',
    'content-length',
    String(bodyLength),
    'x-trace-id',
    traceId(i),
  ];
}

/**
 * One SEND frame on the wire, written by hand rather than with encodeFrame so the parse
 * input does not depend on the encoder being measured.
 */
function sendWire(i: number, body: Buffer): Buffer {
  const h = commonHeaders(i, body.length);
  let head = 'SEND\n';
  for (let j = 0; j < h.length; j += 2) head += h[j] + ':' + h[j + 1] + '\n';
  return Buffer.concat([Buffer.from(head + '\n', 'latin1'), body, Buffer.from([0])]);
}

function perDelivery(i: number): string[] {
  return ['subscription', 'sub-0', 'message-id', `msg-${i}`, 'ack', `ack-${i}`];
}

/** Counts what the parser hands over, to check each call parsed everything. */
class Counter {
  frames = 0;
  bodyBytes = 0;
  onFrame(frame: Frame): void {
    this.frames++;
    this.bodyBytes += frame.body.length;
  }
  onHeartbeat(): void {}
}

async function parseCases(ctx: BenchContext, label: string, size: number): Promise<void> {
  const body = makeBody(size);
  const frames: Buffer[] = [];
  let total = 0;
  for (let i = 0; total < PARSE_INPUT_BYTES; i++) {
    const f = sendWire(i, body);
    frames.push(f);
    total += f.length;
  }
  const n = frames.length;
  const whole = Buffer.concat(frames, total);
  const chunks: Buffer[] = [];
  for (let p = 0; p < total; p += CHUNK) chunks.push(whole.subarray(p, p + CHUNK));

  const check = (c: Counter): void => {
    if (c.frames !== n || c.bodyBytes !== n * size) {
      throw new Error(`parsed ${c.frames}/${n} frames, ${c.bodyBytes} body bytes`);
    }
  };

  await ctx.case(`parse/whole/${label}`, n, total, () => {
    const c = new Counter();
    const p = new FrameParser(c);
    p.version = VERSION;
    p.push(whole);
    check(c);
  });
  await ctx.case(`parse/chunked-1500/${label}`, n, total, () => {
    const c = new Counter();
    const p = new FrameParser(c);
    p.version = VERSION;
    for (let k = 0; k < chunks.length; k++) p.push(chunks[k]!);
    check(c);
  });
}

async function encodeCases(ctx: BenchContext, label: string, size: number): Promise<void> {
  const body = makeBody(size);
  const sends: Frame[] = [];
  const deliveries: string[][] = [];
  const messages: Frame[] = [];
  for (let i = 0; i < DELIVERIES; i++) {
    sends.push(new Frame('SEND', commonHeaders(i, size), body));
    const d = perDelivery(i);
    deliveries.push(d);
    messages.push(new Frame('MESSAGE', [...d, ...commonHeaders(0, size)], body));
  }
  const shared = new SharedMessage(commonHeaders(0, size), body);
  /** One delivery: its own lines encoded, then the frame around the shared common part. */
  const deliver = (perDelivery: readonly string[]): Buffer => {
    const own = encodeLines(perDelivery, VERSION);
    return shared.encodeWith(VERSION, 'MESSAGE\n' + own.text, own.ascii);
  };

  // Both ways must produce the same bytes, or they are not being compared fairly.
  const a = encodeFrame(messages[7]!, VERSION);
  const b = deliver(deliveries[7]!);
  if (!a.equals(b)) throw new Error('encodeFrame and SharedMessage.encodeWith disagree');

  // About ENCODE_BATCH_BYTES per call; ids differ in length, so count one pass exactly.
  const perCall = Math.max(1, Math.floor(ENCODE_BATCH_BYTES / a.length));
  const bytesPerCall = (encode: (k: number) => Buffer): number => {
    let bytes = 0;
    for (let k = 0; k < perCall; k++) bytes += encode(k % DELIVERIES).length;
    return bytes;
  };
  // Each case has its own loop, so no call site in it sees more than one encoder.
  let sink = 0; // the results are used, so none of the work can be optimised away
  let bytes = bytesPerCall((k) => encodeFrame(sends[k]!, VERSION));
  await ctx.case(`encode/encodeFrame-SEND/${label}`, perCall, bytes, () => {
    for (let k = 0; k < perCall; k++) sink += encodeFrame(sends[k % DELIVERIES]!, VERSION)[0]!;
  });
  bytes = bytesPerCall((k) => encodeFrame(messages[k]!, VERSION));
  await ctx.case(`encode/encodeFrame-MESSAGE/${label}`, perCall, bytes, () => {
    for (let k = 0; k < perCall; k++) sink += encodeFrame(messages[k % DELIVERIES]!, VERSION)[0]!;
  });
  bytes = bytesPerCall((k) => deliver(deliveries[k]!));
  await ctx.case(`encode/shared-MESSAGE/${label}`, perCall, bytes, () => {
    for (let k = 0; k < perCall; k++) {
      const own = encodeLines(deliveries[k % DELIVERIES]!, VERSION);
      sink += shared.encodeWith(VERSION, 'MESSAGE\n' + own.text, own.ascii)[0]!;
    }
  });
  if (sink < 0) console.log(sink);
}

export const codec: Benchmark = async (ctx) => {
  for (const [label, size] of SIZES) await parseCases(ctx, label, size);
  for (const [label, size] of SIZES) await encodeCases(ctx, label, size);
};

if (isMain(import.meta.url)) await runStandalone('codec', codec);
