import { FRAME_END, type SharedMessage } from '../protocol/encoder.js';
import { EMPTY } from '../protocol/frame.js';
import type { StompVersion } from '../protocol/version.js';
import type { ByteStream } from './stream.js';

/** Bodies from this size on are written after their frame's header lines, never copied. */
const LARGE_BODY = 16 * 1024;
/**
 * A turn's slab (see Output): its smallest and largest size, and the largest frame put in
 * one. The smallest is below half of Buffer.poolSize, so that a turn with little to write
 * takes its slab from Node's shared pool: a fresh ArrayBuffer per turn counts as external
 * memory, and at a few frames per turn that made V8 run full collections every second or
 * two (docs/benchmarks.md, latency at 2,000 msg/s).
 */
const SLAB_MIN = 2 * 1024;
const SLAB_MAX = 64 * 1024;
const SLAB_FRAME_MAX = 4 * 1024;

/**
 * Uncorks, at the end of the current tick, every Output that wrote during it: all the
 * frames of one tick leave a connection in one write. One per broker.
 */
export class TickFlusher {
  private corked: Output[] = [];
  private scheduled = false;

  schedule(output: Output): void {
    this.corked.push(output);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const list = this.corked;
    this.corked = [];
    for (let i = 0; i < list.length; i++) list[i]!.uncork();
  };
}

/**
 * A session's write path. The stream is corked at the first write of a tick and uncorked
 * when the tick ends (TickFlusher). The first frame of a turn is written as a buffer of its
 * own; the MESSAGEs after it in the same turn are encoded one after another into a slab,
 * which goes to the stream as one write when the turn ends, or before any other write to
 * keep the order. A consumer of a busy queue then costs one buffer and one stream write per
 * turn rather than per message. WebSocket needs one message per frame, so there every
 * frame is written on its own.
 */
export class Output {
  private readonly stream: ByteStream;
  private readonly flusher: TickFlusher;
  private readonly highWaterMark: number;
  private readonly wholeFrames: boolean;
  private corked = false;
  private closed = false;
  /** Something was written since the heart-beat timer last looked (takeWritten). */
  private written = false;
  private slab: Buffer = EMPTY;
  private slabStart = 0;
  private slabEnd = 0;
  /** Bytes the slabs of this turn carried, which sizes the next turn's slab. */
  private slabBytes = 0;
  private slabSize = SLAB_MIN;

  constructor(stream: ByteStream, flusher: TickFlusher, highWaterMark: number) {
    this.stream = stream;
    this.flusher = flusher;
    this.highWaterMark = highWaterMark;
    this.wholeFrames = stream.transport === 'ws' || stream.transport === 'wss';
  }

  /** Bytes written and not yet handed to the operating system, the turn's slab included. */
  get unsentBytes(): number {
    return this.stream.bufferedAmount + (this.slabEnd - this.slabStart);
  }

  /** Whether anything was written since the last call (for outgoing heart-beats). */
  takeWritten(): boolean {
    const w = this.written;
    this.written = false;
    return w;
  }

  /** The stream has closed: nothing more is written. */
  close(): void {
    this.closed = true;
  }

  /** Writes one encoded frame. */
  write(buf: Buffer): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      this.flusher.schedule(this);
    }
    if (this.slabEnd > this.slabStart) this.flushSlab();
    this.written = true;
    this.stream.write(buf);
    // Past the high-water mark, queue deliveries stop: ask to hear when it has drained.
    if (this.stream.bufferedAmount >= this.highWaterMark) this.stream.waitDrain();
  }

  /**
   * Writes a MESSAGE: `firstLines` (the command line and the delivery's own headers,
   * encoded for `version`), then the message's shared part. It goes into this turn's slab
   * unless it is the turn's first write, too large for a slab, or the transport needs whole
   * frames. A large body is written as it is, after the frame's header lines: the corked
   * stream still sends them together.
   */
  writeMessage(
    shared: SharedMessage,
    version: StompVersion,
    firstLines: string,
    ascii: boolean,
  ): void {
    if (shared.body.length >= LARGE_BODY && !this.wholeFrames) {
      this.write(shared.encodeBeforeBody(version, firstLines, ascii));
      this.write(shared.body);
      this.write(FRAME_END);
      return;
    }
    if (!this.corked || this.wholeFrames || this.closed) {
      this.write(shared.encodeWith(version, firstLines, ascii));
      return;
    }
    const linesLength = ascii ? firstLines.length : Buffer.byteLength(firstLines);
    const size = shared.frameLength(version, linesLength);
    if (size > SLAB_FRAME_MAX) {
      this.write(shared.encodeWith(version, firstLines, ascii));
      return;
    }
    if (this.slab.length - this.slabEnd < size) this.newSlab(size);
    this.slabEnd = shared.encodeInto(
      this.slab,
      this.slabEnd,
      version,
      firstLines,
      linesLength,
      ascii,
    );
    this.written = true;
    if (this.unsentBytes >= this.highWaterMark) {
      this.flushSlab();
      this.stream.waitDrain();
    }
  }

  private flushSlab(): void {
    const n = this.slabEnd - this.slabStart;
    this.slabBytes += n;
    const part = this.slab.subarray(this.slabStart, this.slabEnd);
    // The stream holds what it is given until it is sent, and a view holds its whole slab
    // (or its share of Node's pool): a little of a slab is copied out, so that a consumer
    // that stops reading holds about what it has unsent, not a slab per turn.
    this.stream.write(n * 2 < this.slab.length ? Buffer.from(part) : part);
    this.slabStart = this.slabEnd;
  }

  /** Hands what the slab holds to the stream, then starts a slab with room for `need` bytes. */
  private newSlab(need: number): void {
    if (this.slabEnd > this.slabStart) this.flushSlab();
    this.slab = Buffer.allocUnsafe(Math.max(need, this.slabSize));
    this.slabStart = this.slabEnd = 0;
  }

  /** The turn ends: what it wrote goes out. */
  uncork(): void {
    if (!this.corked) return;
    if (this.slabEnd > this.slabStart) this.flushSlab();
    // The next turn's slab is sized after this one's output; none is kept in between,
    // so an idle connection holds no buffer.
    let size = SLAB_MIN;
    while (size < this.slabBytes && size < SLAB_MAX) size *= 2;
    this.slabSize = size;
    this.slabBytes = 0;
    this.slab = EMPTY;
    this.slabStart = this.slabEnd = 0;
    this.corked = false;
    this.stream.uncork();
  }
}
