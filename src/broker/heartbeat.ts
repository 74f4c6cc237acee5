import { HEARTBEAT } from '../protocol/encoder.js';
import type { Output } from './output.js';

/** What the heart-beats of a session need from it. */
export interface HeartbeatHost {
  readonly output: Output;
  /** Reading is paused (a full queue, a pending hook): the client's beats sit unread. */
  readonly readingPaused: boolean;
  /** The client has been silent for `ms`, past the negotiated interval and its grace. */
  heartbeatTimeout(ms: number): void;
}

/**
 * A session's heart-beats, both ways (STOMP 1.2, "Heart-beating"): a beat is sent when
 * nothing else was written for the negotiated interval, and a client silent for longer
 * than its interval times the grace factor is reported to the session.
 */
export class Heartbeats {
  private readonly host: HeartbeatHost;
  private outTimer: NodeJS.Timeout | undefined;
  private inTimer: NodeJS.Timeout | undefined;
  private inRecheck: NodeJS.Immediate | undefined;
  private lastRead = 0;
  private inLimit = 0;

  constructor(host: HeartbeatHost) {
    this.host = host;
  }

  /** Data arrived from the client: any data counts as a beat. */
  read(): void {
    this.lastRead = Date.now();
  }

  /**
   * Starts both directions: `sendEvery` ms at most between writes to the client,
   * `expectEvery` ms between its data (0 turns a direction off), tolerated `grace` times.
   */
  start(sendEvery: number, expectEvery: number, grace: number): void {
    if (sendEvery > 0) {
      // Checking every half interval for "nothing written since the last check" bounds the
      // silence by the interval without reading the clock on every write. Only what we
      // wrote counts: the client's beats are no substitute for ours.
      const output = this.host.output;
      this.outTimer = setInterval(
        () => {
          // The beat itself does not count as data written for the next check.
          if (!output.takeWritten()) {
            output.write(HEARTBEAT);
            output.takeWritten();
          }
        },
        Math.max(1, Math.floor(sendEvery / 2)),
      );
    }
    if (expectEvery > 0) {
      this.inLimit = Math.ceil(expectEvery * grace);
      this.lastRead = Date.now();
      this.inTimer = setTimeout(checkIn, this.inLimit, this);
    }
  }

  stop(): void {
    clearInterval(this.outTimer);
    clearTimeout(this.inTimer);
    clearImmediate(this.inRecheck);
  }

  /** Called by the timer (checkIn below). */
  checkIn(): void {
    // While we have stopped reading, the client's beats sit unread in the socket: that
    // silence is ours, not the client's.
    if (this.host.readingPaused) this.lastRead = Date.now();
    const silent = Date.now() - this.lastRead;
    if (silent < this.inLimit) {
      this.inTimer = setTimeout(checkIn, this.inLimit - silent, this);
      return;
    }
    // Before calling the client dead, let the event loop read what may have arrived while
    // it was busy (timers run before the poll phase, immediates after it), so that a stall
    // of our own is not taken for the client's silence.
    this.inRecheck = setImmediate(() => {
      const s = Date.now() - this.lastRead;
      if (s >= this.inLimit && !this.host.readingPaused) this.host.heartbeatTimeout(s);
      else this.inTimer = setTimeout(checkIn, Math.max(1, this.inLimit - s), this);
    });
  }
}

// Module-level, so that a session holds no closure of its own for it.
function checkIn(h: Heartbeats): void {
  h.checkIn();
}
