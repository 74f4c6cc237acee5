import net from 'node:net';
import { Frame, FrameParser, type StompVersion } from '../../src/protocol/index.js';

/**
 * A bare STOMP client for black-box tests: writes the bytes it is given, literally, and
 * parses what the broker sends with the project's own parser. Frames are queued so a
 * test can await them one by one.
 */
export class RawClient {
  readonly socket: net.Socket;
  readonly parser: FrameParser;
  readonly frames: Frame[] = [];
  heartbeats = 0;
  ended = false;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
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
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** A client over a socket opened elsewhere (a TLS socket, say). */
  static wrap(socket: net.Socket): RawClient {
    return new RawClient(socket);
  }

  /** Opens a socket and completes CONNECT; returns the client and the CONNECTED frame. */
  static async connect(
    port: number,
    version: StompVersion = '1.2',
    headers: Record<string, string> = {},
  ): Promise<RawClient> {
    const c = await RawClient.open(port);
    const h: Record<string, string> =
      version === '1.0' ? {} : { 'accept-version': version, host: 'localhost' };
    Object.assign(h, headers);
    let text = 'CONNECT\n';
    for (const [k, v] of Object.entries(h)) text += `${k}:${v}\n`;
    c.write(text + '\n\0');
    const f = await c.next();
    if (f.command !== 'CONNECTED')
      throw new Error(`expected CONNECTED, got ${f.command}: ${f.header('message')}`);
    c.parser.version = version;
    return c;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private wait(timeoutMs: number, what: string): Promise<void> {
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

  /** Waits until the broker closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error('connection not closed in time')), timeoutMs);
      }),
    ]);
    clearTimeout(t);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
