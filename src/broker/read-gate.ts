import type { Queue, QueueWaiter } from './destination.js';
import type { Store } from '../store/store.js';

/** Bytes read from one connection before it lets the others have a turn (see counted). */
const READ_BUDGET = 256 * 1024;

// Module-level, so that a session holds no closure of its own for it.
function endYield(gate: ReadGate): void {
  gate.endYield();
}

/** How the gate stops and restarts a session's reading. */
export interface Reader {
  stopReading(): void;
  startReading(): void;
}

/**
 * Decides when a session reads. Reading stops while any reason to wait holds, and starts
 * again when the last one ends: an async hook deciding on a frame, a full queue this
 * session sent to (producer flow control), a store behind on its writes, or a turn given
 * to the other connections after a burst of input.
 */
export class ReadGate implements QueueWaiter {
  private readonly reader: Reader;
  private pauses = 0;
  private readSinceYield = 0;
  private yielding = false;
  private waitingForStore = false;
  /** Full queues this session sent to, and waits on until they drain. */
  private readonly fullQueues: Queue[] = [];

  constructor(reader: Reader) {
    this.reader = reader;
  }

  get paused(): boolean {
    return this.pauses > 0;
  }

  /** Stops reading until a matching resume(). */
  pause(): void {
    if (this.pauses++ === 0) this.reader.stopReading();
  }

  resume(): void {
    if (--this.pauses === 0) this.reader.startReading();
  }

  /**
   * Counts bytes just read. A fast producer could otherwise keep the event loop reading its
   * socket (libuv reads many 64 KiB chunks per event) while every other connection waits:
   * after READ_BUDGET bytes it yields one turn.
   */
  counted(bytes: number): void {
    this.readSinceYield += bytes;
    if (this.readSinceYield >= READ_BUDGET && !this.yielding) {
      this.yielding = true;
      this.pause();
      setImmediate(endYield, this);
    }
  }

  /** The turn given to the other connections is over. */
  endYield(): void {
    this.yielding = false;
    this.readSinceYield = 0;
    this.resume();
  }

  /** The store has too much to write: read nothing more until what is pending is durable. */
  waitForStore(store: Store): void {
    if (this.waitingForStore) return;
    this.waitingForStore = true;
    this.pause();
    store.sync(() => {
      this.waitingForStore = false;
      this.resume();
    });
  }

  /** A queue this session sent to is full: stop reading until it drains. */
  waitForQueue(queue: Queue): void {
    queue.addWaiter(this);
    if (this.fullQueues.includes(queue)) return;
    this.fullQueues.push(queue);
    if (this.fullQueues.length === 1) this.pause();
  }

  /** `queue` has drained; reading resumes once no queue it waits on is full. */
  queueDrained(queue: Queue): void {
    const i = this.fullQueues.indexOf(queue);
    if (i === -1) return;
    this.fullQueues.splice(i, 1);
    if (this.fullQueues.length === 0) this.resume();
  }

  /** The session ends: it waits on no queue any more. */
  leaveQueues(): void {
    for (const q of this.fullQueues) q.removeWaiter(this);
    this.fullQueues.length = 0;
  }
}
