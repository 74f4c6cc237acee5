import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import { Frame, FrameParser, type StompVersion } from '../../src/protocol/index.js';

/** One WebSocket message as received. */
export interface WsMessage {
  data: Buffer;
  binary: boolean;
}

/**
 * A bare STOMP-over-WebSocket client for black-box tests (the `ws` package): sends the
 * messages it is given, literally, one WebSocket message per send(), and parses what the
 * broker sends with the project's own parser. Keeps every message as received too, so a
 * test can look at how frames were split into messages, and whether as text or binary.
 */
export class WsClient {
  readonly ws: WebSocket;
  readonly parser: FrameParser;
  readonly frames: Frame[] = [];
  readonly messages: WsMessage[] = [];
  heartbeats = 0;
  ended = false;
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
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
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.messages.push({ data, binary });
      this.parser.push(data);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.ended = true;
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve();
      });
    });
    ws.on('error', () => {});
  }

  /** Opens a WebSocket; resolves once open, rejects with the handshake's failure. */
  static open(
    url: string,
    protocols: string[] = [],
    options: ClientOptions = {},
  ): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        ws.terminate();
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      });
    });
  }

  /** Opens a WebSocket and completes CONNECT (one message); the CONNECTED frame is consumed. */
  static async connect(
    url: string,
    version: StompVersion = '1.2',
    headers: Record<string, string> = {},
    protocols: string[] = ['v12.stomp', 'v11.stomp', 'v10.stomp'],
    options: ClientOptions = {},
  ): Promise<WsClient> {
    const c = await WsClient.open(url, protocols, options);
    const h: Record<string, string> =
      version === '1.0' ? {} : { 'accept-version': version, host: 'localhost' };
    Object.assign(h, headers);
    let text = 'CONNECT\n';
    for (const [k, v] of Object.entries(h)) text += `${k}:${v}\n`;
    c.send(text + '\n\0');
    const f = await c.next();
    if (f.command !== 'CONNECTED')
      throw new Error(`expected CONNECTED, got ${f.command}: ${f.header('message')}`);
    c.parser.version = version;
    return c;
  }

  /** Sends one WebSocket message: text for a string, binary for a Buffer (unless told). */
  send(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
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

  /** Resolves once the WebSocket has closed (rejects after `timeoutMs`). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    while (!this.ended) await this.wait(timeoutMs, 'the connection to close');
  }

  destroy(): void {
    this.ws.terminate();
  }
}
