const EMPTY = Buffer.alloc(0);

/**
 * Tells when everything written to a socket so far has been flushed, however little it
 * is: Node emits 'drain' only after a write went past its own high-water mark, which may
 * be above the session's. An empty write's callback runs after every earlier write.
 */
export class FlushWatch {
  private waiting = false;
  private readonly socket: { write(chunk: Buffer, cb: () => void): boolean };
  private readonly flushed: () => void;

  constructor(socket: { write(chunk: Buffer, cb: () => void): boolean }, onFlushed: () => void) {
    this.socket = socket;
    this.flushed = () => {
      this.waiting = false;
      onFlushed();
    };
  }

  wait(): void {
    if (this.waiting) return;
    this.waiting = true;
    this.socket.write(EMPTY, this.flushed);
  }
}
