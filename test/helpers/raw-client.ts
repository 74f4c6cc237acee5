import net from 'node:net';
import type { StompVersion } from '../../src/protocol/index.js';
import { FrameInbox } from './inbox.js';

/**
 * A bare STOMP client for black-box tests: writes the bytes it is given, literally, and
 * parses what the broker sends with the project's own parser. Frames are queued so a
 * test can await them one by one.
 */
export class RawClient extends FrameInbox {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.markEnded();
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
