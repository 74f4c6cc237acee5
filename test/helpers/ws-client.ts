import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import type { StompVersion } from '../../src/protocol/index.js';
import { FrameInbox } from './inbox.js';

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
export class WsClient extends FrameInbox {
  readonly ws: WebSocket;
  readonly messages: WsMessage[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<void>;

  private constructor(ws: WebSocket) {
    super();
    this.ws = ws;
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.messages.push({ data, binary });
      this.parser.push(data);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.markEnded();
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

  /** Resolves once the WebSocket has closed (rejects after `timeoutMs`). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    while (!this.ended) await this.wait(timeoutMs, 'the connection to close');
  }

  destroy(): void {
    this.ws.terminate();
  }
}
