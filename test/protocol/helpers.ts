/**
 * Shared helpers for the codec tests. The central one is {@link parseEveryWay}: it feeds a
 * byte stream to a fresh FrameParser whole, split in two at every byte position, byte by
 * byte (with empty chunks in between), each without pausing, pausing after every frame and
 * resuming after each push, and pausing with the chunks piling up until the end; it asserts
 * that every way yields the same frames, heart-beats and error code (1.P item 1: frames
 * split across TCP reads / WebSocket messages).
 *
 * Along the way it checks invariants that every framing test then gets for free:
 * - the only thing ever thrown is a StompError whose code is in ErrorCodes, and after it the
 *   parser stays failed (a further push throws the same error);
 * - parser.bufferedBytes never exceeds the bound the limits allow (L-01), after every push
 *   (in 'deferred' mode, where held chunks count by design, after they are drained);
 * - nothing is delivered while the parser is paused;
 * - frames do not alias the caller's chunks: every chunk is overwritten after the run, so a
 *   body that points into input memory shows up as a wrong body.
 */
import assert from 'node:assert/strict';
import { ErrorCodes, StompError, type ErrorCode } from '../../src/errors.js';
import { DEFAULT_OPTIONS } from '../../src/settings.js';
import {
  Frame,
  FrameParser,
  type ParserOptions,
  type StompVersion,
} from '../../src/protocol/index.js';

/** parser.version: null = pre-CONNECT rules. */
export type Version = StompVersion | null;

export const HB = 'heartbeat' as const;
export type ParsedEvent = Frame | typeof HB;

export interface ParseResult {
  events: ParsedEvent[];
  /** The code of the StompError that stopped the parser, if any. */
  error: ErrorCode | undefined;
  /** parser.idle at the end (undefined after an error). */
  idle: boolean | undefined;
}

export interface FeedOptions {
  /** parser.version before the first byte; default null (pre-CONNECT rules). */
  version?: Version;
  options?: ParserOptions;
  /**
   * Called for each frame; a version it returns is what the session negotiated, and the
   * parser must read the frames after this one with that version's rules.
   */
  switchVersion?: (frame: Frame) => Version | undefined;
  /**
   * 'sync': a version switch is applied inside onFrame. 'pause': every frame pauses the
   * parser inside onFrame; the switch is applied and resume() called after push() returns.
   * 'deferred': like 'pause', but resume() is called only after every chunk has been pushed,
   * so chunks pile up while the parser is paused (a session waiting for an async login).
   */
  mode?: 'sync' | 'pause' | 'deferred';
}

/** The most bytes a parser with these limits may hold for a frame in progress (L-01). */
export function bufferBound(options: ParserOptions = {}): number {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_OPTIONS.maxFrameSize;
  const maxHeaderLineLength = options.maxHeaderLineLength ?? DEFAULT_OPTIONS.maxHeaderLineLength;
  const maxCommandLength = options.maxCommandLength ?? DEFAULT_OPTIONS.maxCommandLength;
  // A line in progress may hold one extra byte: the CR of its CRLF.
  return Math.max(maxFrameSize, maxHeaderLineLength + 1, maxCommandLength + 1);
}

/** What no header of a frame marked plain may hold: any would need escaping somewhere (E-04). */
const NEEDS_ESCAPING = /[\\\r\n:\u0080-\uffff]/;

/** Frame.plain may be true only when no header name or value needs escaping in any version. */
export function assertPlainIsTrue(frame: Frame): void {
  if (!frame.plain) return;
  for (const s of frame.headers) {
    assert.ok(!NEEDS_ESCAPING.test(s), `frame marked plain, but ${JSON.stringify(s)} is not`);
  }
}

/** Asserts that err is a StompError with a catalogued code, and returns the code. */
export function assertStompError(err: unknown): ErrorCode {
  if (!(err instanceof StompError)) throw err;
  assert.ok(Object.hasOwn(ErrorCodes, err.code), `unknown error code ${err.code}`);
  return err.code;
}

/**
 * Feeds the chunks (copies of them) to a new parser and records what it reports. Throws
 * (fails the test) on anything but a StompError.
 */
export function feed(chunks: readonly Buffer[], opts: FeedOptions = {}): ParseResult {
  const events: ParsedEvent[] = [];
  const mode = opts.mode ?? 'sync';
  const bound = bufferBound(opts.options);
  let paused = false;
  let nextVersion: Version | undefined;
  const parser: FrameParser = new FrameParser(
    {
      onFrame(frame) {
        assert.ok(!paused, 'a frame was delivered while the parser was paused');
        assertPlainIsTrue(frame);
        // Compared by content: `plain` is a hint for the encoder, checked just above.
        events.push(new Frame(frame.command, frame.headers, frame.body));
        const v = opts.switchVersion?.(frame);
        if (mode === 'sync') {
          if (v !== undefined) parser.version = v;
        } else {
          parser.pause();
          paused = true;
          if (v !== undefined) nextVersion = v;
        }
      },
      onHeartbeat() {
        assert.ok(!paused, 'a heart-beat was delivered while the parser was paused');
        events.push(HB);
      },
    },
    opts.options,
  );
  const drain = () => {
    while (paused) {
      paused = false;
      if (nextVersion !== undefined) parser.version = nextVersion;
      nextVersion = undefined;
      parser.resume();
    }
  };
  const checkBound = () =>
    assert.ok(
      parser.bufferedBytes <= bound,
      `bufferedBytes ${parser.bufferedBytes} exceeds the bound ${bound}`,
    );
  parser.version = opts.version ?? null;
  const copies = chunks.map((c) => Buffer.from(c));
  let error: ErrorCode | undefined;
  try {
    for (const chunk of copies) {
      parser.push(chunk);
      if (mode === 'deferred') continue; // held chunks count in bufferedBytes until drained
      drain();
      checkBound();
    }
    drain();
    checkBound();
  } catch (err) {
    error = assertStompError(err);
    // The parser stays failed: the next push throws the very same error.
    let again: unknown;
    try {
      parser.push(Buffer.from('\n'));
    } catch (e) {
      again = e;
    }
    assert.equal(again, err, 'a failed parser must rethrow its error');
  }
  const idle = error === undefined ? parser.idle : undefined;
  // Frames must own their bytes: overwrite the input and the frames must not change.
  for (const c of copies) c.fill(0xee);
  return { events, error, idle };
}

/** Every way of chunking `bytes` that parseEveryWay tries, with a label for each. */
function* chunkings(bytes: Buffer): Generator<[string, Buffer[]]> {
  for (let i = 1; i < bytes.length; i++) {
    yield [`split at ${i}`, [bytes.subarray(0, i), bytes.subarray(i)]];
  }
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1), Buffer.alloc(0));
  yield ['byte by byte', single];
}

/**
 * Parses `bytes` whole, split in two at every position and byte by byte, each in 'sync',
 * 'pause' and 'deferred' mode, asserts that all agree, and returns the result.
 */
export function parseEveryWay(bytes: Buffer, opts: FeedOptions = {}): ParseResult {
  const whole = feed([bytes], { ...opts, mode: 'sync' });
  for (const mode of ['sync', 'pause', 'deferred'] as const) {
    if (mode !== 'sync') {
      assert.deepStrictEqual(feed([bytes], { ...opts, mode }), whole, `whole, ${mode}`);
    }
    for (const [label, chunks] of chunkings(bytes)) {
      assert.deepStrictEqual(feed(chunks, { ...opts, mode }), whole, `${label}, ${mode}`);
    }
  }
  return whole;
}

/** Asserts that `bytes`, chunked every way, parse to exactly `expected` and end between frames. */
export function expectEvents(
  bytes: Buffer,
  expected: ParsedEvent[],
  opts: FeedOptions = {},
): ParseResult {
  const result = parseEveryWay(bytes, opts);
  assert.equal(result.error, undefined, `unexpected error ${result.error}`);
  assert.deepStrictEqual(result.events, expected);
  assert.equal(result.idle, true, 'parser should be idle after the last frame');
  return result;
}

/** Asserts that `bytes`, chunked every way, yield `before` and then fail with `code`. */
export function expectError(
  bytes: Buffer,
  code: ErrorCode,
  opts: FeedOptions = {},
  before: ParsedEvent[] = [],
): ParseResult {
  const result = parseEveryWay(bytes, opts);
  assert.equal(result.error, code);
  assert.deepStrictEqual(result.events, before);
  return result;
}

/** Shorthand for an expected frame. */
export function frame(command: string, headers: string[] = [], body: string | Buffer = ''): Frame {
  return new Frame(command, headers, typeof body === 'string' ? Buffer.from(body) : body);
}

/** The only frame parsed from `bytes` (chunked every way). */
export function parseOne(bytes: Buffer, opts: FeedOptions = {}): Frame {
  const result = parseEveryWay(bytes, opts);
  assert.equal(result.error, undefined, `unexpected error ${result.error}`);
  assert.equal(result.events.length, 1, 'expected exactly one frame');
  const f = result.events[0]!;
  assert.ok(f instanceof Frame);
  return f;
}

/** Cuts bytes at the given positions (taken modulo length + 1, sorted). */
export function chunkAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}
