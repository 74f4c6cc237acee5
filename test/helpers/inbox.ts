import { Frame, FrameParser } from '../../src/protocol/index.js';

/**
 * What every test client shares: the project's own parser reading what the broker sends,
 * and the frames queued so that a test can await them one by one.
 */
export class FrameInbox {
  readonly parser: FrameParser;
  readonly frames: Frame[] = [];
  heartbeats = 0;
  ended = false;
  private waiters: Array<() => void> = [];

  constructor() {
    this.parser = new FrameParser(
      {
        onFrame: (f) => {
          this.frames.push(f);
          this.wake();
        },
        onHeartbeat: () => {
          this.heartbeats++;
          this.wake();
        },
      },
      { maxFrameSize: 64 * 1024 * 1024, maxHeaders: 10000, maxHeaderLineLength: 1024 * 1024 },
    );
  }

  /** The transport closed. */
  protected markEnded(): void {
    this.ended = true;
    this.wake();
  }

  protected wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  protected wait(timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The next frame from the broker. Rejects on timeout or if the connection closes first. */
  async next(timeoutMs = 5000): Promise<Frame> {
    while (this.frames.length === 0) {
      if (this.ended) throw new Error('connection closed while waiting for a frame');
      await this.wait(timeoutMs, 'a frame');
    }
    return this.frames.shift()!;
  }

  /** The next frame, which must have the given command. */
  async expect(command: string, timeoutMs = 5000): Promise<Frame> {
    const f = await this.next(timeoutMs);
    if (f.command !== command) {
      throw new Error(
        `expected ${command}, got ${f.command} ${JSON.stringify(f.entries())} ${f.body.toString()}`,
      );
    }
    return f;
  }

  /** Resolves true if no frame arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    if (this.frames.length > 0) return false;
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.length === 0;
  }
}
